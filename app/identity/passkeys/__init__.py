"""Passkeys (WebAuthn) for staff: registration, sign-in, and passkey-only accounts."""
