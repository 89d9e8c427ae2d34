from __future__ import annotations

from typing import Any

import msgspec


class CredentialIn(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """`PublicKeyCredential.toJSON()` as browsers send it; `response` is checked by webauthn."""

    id: str
    raw_id: str
    type: str
    response: dict[str, Any]
    authenticator_attachment: str | None = None
    client_extension_results: dict[str, Any] = {}

    def for_webauthn(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rawId": self.raw_id,
            "type": self.type,
            "response": self.response,
            "authenticatorAttachment": self.authenticator_attachment,
            "clientExtensionResults": self.client_extension_results,
        }


class RegistrationIn(CredentialIn, rename="camel", forbid_unknown_fields=True):
    name: str | None = None
    """What the user calls this passkey ("work laptop"); defaults to a generic name."""


class PasskeyOut(msgspec.Struct):
    id: str
    name: str
    rp_id: str
    created_at: str
    last_used_at: str | None
    backed_up: bool
    device_type: str
    transports: list[str]


class PasskeyList(msgspec.Struct):
    items: list[PasskeyOut]
    passkey_only: bool


class PasskeyOnlyIn(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class PasskeyOnlyOut(msgspec.Struct):
    enabled: bool
