"""JSON Schemas of the WebAuthn option objects the passkey routes return.

The routes send `webauthn.options_to_json` output as is (what the browser's
`PublicKeyCredential.parse*OptionsFromJSON` reads): WebAuthn Level 3's
`PublicKeyCredentialCreationOptionsJSON` and `PublicKeyCredentialRequestOptionsJSON`.
"""

from __future__ import annotations

from typing import Any

BASE64URL: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}

_DESCRIPTOR: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": BASE64URL,
        "type": {"type": "string", "enum": ["public-key"]},
        "transports": {"type": "array", "items": {"type": "string"}},
    },
}

_USER_VERIFICATION: dict[str, Any] = {
    "type": "string",
    "enum": ["required", "preferred", "discouraged"],
}

CREATION_OPTIONS: dict[str, Any] = {
    "type": "object",
    "title": "PublicKeyCredentialCreationOptionsJSON",
    "required": ["rp", "user", "challenge", "pubKeyCredParams"],
    "properties": {
        "rp": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "id": {"type": "string"}},
        },
        "user": {
            "type": "object",
            "required": ["id", "name", "displayName"],
            "properties": {
                "id": BASE64URL,
                "name": {"type": "string"},
                "displayName": {"type": "string"},
            },
        },
        "challenge": BASE64URL,
        "pubKeyCredParams": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "alg"],
                "properties": {
                    "type": {"type": "string", "enum": ["public-key"]},
                    "alg": {"type": "integer"},
                },
            },
        },
        "timeout": {"type": "integer", "minimum": 0},
        "excludeCredentials": {"type": "array", "items": _DESCRIPTOR},
        "authenticatorSelection": {
            "type": "object",
            "properties": {
                "authenticatorAttachment": {
                    "type": "string",
                    "enum": ["platform", "cross-platform"],
                },
                "residentKey": {
                    "type": "string",
                    "enum": ["discouraged", "preferred", "required"],
                },
                "requireResidentKey": {"type": "boolean"},
                "userVerification": _USER_VERIFICATION,
            },
        },
        "attestation": {
            "type": "string",
            "enum": ["none", "indirect", "direct", "enterprise"],
        },
        "hints": {"type": "array", "items": {"type": "string"}},
    },
}

REQUEST_OPTIONS: dict[str, Any] = {
    "type": "object",
    "title": "PublicKeyCredentialRequestOptionsJSON",
    "required": ["challenge"],
    "properties": {
        "challenge": BASE64URL,
        "timeout": {"type": "integer", "minimum": 0},
        "rpId": {"type": "string"},
        "allowCredentials": {"type": "array", "items": _DESCRIPTOR},
        "userVerification": _USER_VERIFICATION,
    },
}
