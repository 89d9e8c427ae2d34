"""A software WebAuthn authenticator for API tests: real P-256 keys, real CBOR, real signatures.

It answers creation and request options the way a browser plus a platform authenticator would
(`PublicKeyCredential.toJSON()`), and lets a test bend one thing at a time: the origin, the RP ID,
the signature counter, the challenge. The end-to-end test uses Chromium's own authenticator.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)


@dataclass
class SoftCredential:
    id: bytes
    rp_id: str
    user_handle: bytes
    key: ec.EllipticCurvePrivateKey
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    counter_step: int = 1
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(
        self, options: dict[str, Any], origin: str, *, rp_id: str | None = None
    ) -> dict[str, Any]:
        """Answer creation options; `rp_id` overrides the one the options name."""
        rp = rp_id or options["rp"]["id"]
        credential = SoftCredential(
            id=secrets.token_bytes(32),
            rp_id=rp,
            user_handle=base64url_to_bytes(options["user"]["id"]),
            key=ec.generate_private_key(ec.SECP256R1()),
        )
        client_data = _client_data("webauthn.create", options["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(credential.id)) + credential.id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([UP | UV | AT])
            + struct.pack(">I", credential.sign_count)
            + attested
            + credential.cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(credential)
        raw_id = bytes_to_base64url(credential.id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        credential: SoftCredential | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """Answer request options with a credential (the last one made unless named);
        `user_verified=False` answers as an authenticator that only saw a touch (UP, no UV)."""
        credential = credential or self.credentials[-1]
        rp = rp_id or options.get("rpId") or credential.rp_id
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([UP | UV if user_verified else UP])
            + struct.pack(">I", sign_count)
        )
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        raw_id = bytes_to_base64url(credential.id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(credential.user_handle),
            },
        }


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    ).encode()
