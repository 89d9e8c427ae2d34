from __future__ import annotations

from typing import Annotated, Any

import msgspec

from app.core.inputs import Code, Input, ShortName

# A credential id, base64url (the column holds 1400 characters).
CredentialId = Annotated[str, msgspec.Meta(max_length=1400)]


class CredentialIn(Input, rename="camel", forbid_unknown_fields=True):
    """`PublicKeyCredential.toJSON()` as browsers send it; `response` is checked by webauthn."""

    id: CredentialId
    raw_id: CredentialId
    type: Code
    response: dict[str, Any]
    authenticator_attachment: Code | None = None
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
    name: ShortName | None = None
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
