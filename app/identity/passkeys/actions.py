"""Passkey actions: each one tenant transaction, audited; sessions start after the commit."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Any

import msgspec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app import audit
from app.audit import Actor
from app.i18n import _
from app.idempotency import IdempotencyKey
from app.identity import sessions, throttle
from app.identity.access import access_staff
from app.identity.actions import principal_for
from app.identity.passkeys import ceremony
from app.identity.passkeys.access import access_own_passkey, count_passkeys
from app.identity.passkeys.schemas import CredentialIn, PasskeyOut, RegistrationIn
from app.identity.passkeys.tables import StaffPasskey
from app.identity.sessions import Principal
from app.identity.tables import StaffUser
from app.problems import Conflict, Invalid, Unauthorized
from app.timeutil import iso
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_PASSKEYS_PER_USER = 20
MAX_NAME_LENGTH = 100


def passkey_out(row: dict[str, Any]) -> PasskeyOut:
    transports = row["transports"]
    return PasskeyOut(
        id=str(row["id"]),
        name=str(row["name"]),
        rp_id=str(row["rp_id"]),
        created_at=iso(row["created_at"]),
        last_used_at=iso(row["last_used_at"]) if row["last_used_at"] else None,
        backed_up=bool(row["backed_up"]),
        device_type=str(row["device_type"]),
        transports=[str(t) for t in transports] if isinstance(transports, list) else [],
    )


def _transports(raw: object) -> list[AuthenticatorTransport]:
    known = {t.value for t in AuthenticatorTransport}
    items = raw if isinstance(raw, list) else []
    return [AuthenticatorTransport(t) for t in items if t in known]


# Registration ---------------------------------------------------------------------------------


async def registration_options(tenant: TenantRef, principal: Principal, rp_id: str) -> str:
    """Creation options for a discoverable credential; the user's own passkeys are excluded."""
    async with tenant_scope(tenant):
        user = await access_staff(principal.user_id)
        existing = (
            await StaffPasskey.select(StaffPasskey.credential_id, StaffPasskey.transports)
            .where(StaffPasskey.staff_user == user["id"])
            .output(load_json=True)
        )
    if not user["is_active"]:
        raise Unauthorized(_("Sign in first."))
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=tenant.name,
        # The user handle is the user's random id: no personal data goes into authenticators.
        user_id=user["id"].bytes,
        user_name=user["email"],
        user_display_name=user["name"] or user["email"],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(row["credential_id"]),
                transports=_transports(row["transports"]) or None,
            )
            for row in existing
        ],
    )
    await ceremony.remember(
        tenant, ceremony.REGISTRATION, options.challenge, rp_id, principal.user_id
    )
    return options_to_json(options)


def _passkey_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME_LENGTH:
        raise Invalid({"name": _("Use at most 100 characters.")})
    return cleaned or _("Passkey")


async def register(
    tenant: TenantRef,
    principal: Principal,
    actor: Actor,
    rp_id: str,
    data: RegistrationIn,
    idempotency: IdempotencyKey | None = None,
) -> PasskeyOut:
    name = _passkey_name(data.name)
    challenge = ceremony.challenge_in(data.response)
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, PasskeyOut)
        user = await StaffUser.select().where(StaffUser.id == principal.id).lock_rows().first()
        pending = await ceremony.take(tenant, ceremony.REGISTRATION, challenge)
        if (
            pending is None
            or pending.user_id != principal.user_id
            or pending.rp_id != rp_id
            or not user
            or not user["is_active"]
        ):
            raise Invalid(
                {"response": _("This passkey request expired or was already used. Start again.")}
            )
        try:
            verified = verify_registration_response(
                credential=data.for_webauthn(),
                expected_challenge=pending.challenge,
                expected_rp_id=rp_id,
                expected_origin=ceremony.expected_origin(rp_id),
            )
        except (WebAuthnException, ValueError):
            raise Invalid({"response": _("The passkey could not be verified.")}) from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if await StaffPasskey.exists().where(StaffPasskey.credential_id == credential_id):
            raise Conflict(_("This passkey is already registered."), field="response")
        if await count_passkeys(user["id"]) >= MAX_PASSKEYS_PER_USER:
            raise Conflict(_("You have too many passkeys. Remove one first."))
        passkey = StaffPasskey(
            id=uuid.uuid4(),
            staff_user=user["id"],
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            rp_id=rp_id,
            name=name,
            aaguid=verified.aaguid,
            transports=[t.value for t in _transports(data.response.get("transports"))],
            device_type=verified.credential_device_type.value,
            backed_up=verified.credential_backed_up,
            user_verified=verified.user_verified,
            created_at=dt.datetime.now(dt.UTC),
        )
        await StaffPasskey.insert(passkey)
        await audit.record(
            actor, "passkey.added", "staff_passkey", passkey.id, name=name, rp_id=rp_id
        )
        row = (
            await StaffPasskey.select()
            .where(StaffPasskey.id == passkey.id)
            .output(load_json=True)
            .first()
        )
        assert row is not None
        out = passkey_out(row)
        await scope.remember(out)
    return out


# Authentication -------------------------------------------------------------------------------


async def authentication_options(tenant: TenantRef, rp_id: str) -> str:
    """Options for a discoverable sign-in: no user named, the authenticator offers its own."""
    options = generate_authentication_options(
        rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED
    )
    await ceremony.remember(tenant, ceremony.AUTHENTICATION, options.challenge, rp_id)
    return options_to_json(options)


_EXPIRED = "challenge"
_UNKNOWN = "unknown_credential"


def _failure_message(reason: str) -> str:
    if reason == _EXPIRED:
        return _("This sign-in request expired or was already used. Try again.")
    if reason == _UNKNOWN:
        return _("This passkey is not registered on this portal.")
    return _("The passkey could not be verified.")


def _user_handle(response: dict[str, Any]) -> bytes | None:
    handle = response.get("userHandle")
    if not handle:
        return None
    try:
        return base64url_to_bytes(str(handle))
    except Exception:
        return b"malformed"


async def authenticate(
    tenant: TenantRef, actor: Actor, rp_id: str, data: CredentialIn
) -> tuple[str, Principal]:
    """Verify an assertion and start a session; every failure is audited and says 401."""
    challenge = ceremony.challenge_in(data.response)
    reason = ""
    user: dict[str, Any] | None = None
    # No account is known before the assertion is verified: throttle by address.
    await throttle.check(tenant, None, actor.ip)
    async with tenant_scope(tenant):
        pending = await ceremony.take(tenant, ceremony.AUTHENTICATION, challenge)
        passkey = (
            await StaffPasskey.select(StaffPasskey.staff_user)
            .where(StaffPasskey.credential_id == data.id)
            .first()
        )
        if passkey is not None:
            # The user's row first, then the passkey: the order removing a passkey takes. A
            # deactivation waits for this sign-in, then ends its session. NO KEY UPDATE, not
            # SHARE: the sign-in updates the row below, and two sign-ins of one user (with two
            # passkeys) each holding SHARE while waiting to update it would deadlock.
            user = (
                await StaffUser.select()
                .where(StaffUser.id == passkey["staff_user"])
                .lock_rows("NO KEY UPDATE")
                .first()
            )
            passkey = (
                await StaffPasskey.select()
                .where(StaffPasskey.credential_id == data.id)
                .lock_rows()
                .first()
            )
        handle = _user_handle(data.response)
        if pending is None or pending.rp_id != rp_id:
            reason = _EXPIRED
        elif passkey is None or user is None:
            reason = _UNKNOWN
        elif not user["is_active"]:
            reason = "inactive"
        elif handle is not None and not hmac.compare_digest(handle, user["id"].bytes):
            reason = "user_handle"
        else:
            reason = await _verify_assertion(data, pending, passkey, rp_id)
        if reason:
            await audit.record(
                actor,
                "auth.login_failed",
                "staff_user",
                user["id"] if user else "",
                method="passkey",
                reason=reason,
                passkey=str(passkey["id"]) if passkey else "",
            )
        else:
            assert user is not None
            assert passkey is not None
            now = dt.datetime.now(dt.UTC)
            await StaffUser.update({StaffUser.last_login_at: now}).where(StaffUser.id == user["id"])
            signed_in = Actor(
                type="staff",
                id=user["id"],
                label=user["email"],
                ip=actor.ip,
                request_id=actor.request_id,
            )
            await audit.record(
                signed_in,
                "auth.login",
                "staff_user",
                user["id"],
                method="passkey",
                passkey=str(passkey["id"]),
            )
            # Inside the transaction, under the row lock: a racing deactivation either sees
            # this session and ends it, or comes first and we read is_active = false.
            principal = principal_for(user)
            session_id = await sessions.start(tenant, principal)
    if reason:
        await throttle.failed(tenant, None, actor.ip)
        raise Unauthorized(_failure_message(reason))
    await throttle.succeeded(tenant, None, actor.ip)
    return session_id, principal


async def _verify_assertion(
    data: CredentialIn, pending: ceremony.Pending, passkey: dict[str, Any], rp_id: str
) -> str:
    """Check the signature and the counter, store the counter; the failure reason or ""."""
    try:
        verified = verify_authentication_response(
            credential=data.for_webauthn(),
            expected_challenge=pending.challenge,
            expected_rp_id=rp_id,
            expected_origin=ceremony.expected_origin(rp_id),
            credential_public_key=bytes(passkey["public_key"]),
            # The library refuses a counter that does not grow unless both are 0 (spec §6.1.1).
            credential_current_sign_count=int(passkey["sign_count"]),
        )
    except (WebAuthnException, ValueError) as exc:
        return "sign_count" if "sign count" in str(exc) else "verification"
    await StaffPasskey.update(
        {
            StaffPasskey.sign_count: verified.new_sign_count,
            StaffPasskey.last_used_at: dt.datetime.now(dt.UTC),
            StaffPasskey.backed_up: verified.credential_backed_up,
        }
    ).where(StaffPasskey.id == passkey["id"])
    return ""


# Own passkeys -----------------------------------------------------------------------------------


async def list_own(tenant: TenantRef, principal: Principal) -> tuple[list[PasskeyOut], bool]:
    async with tenant_scope(tenant):
        user = await access_staff(principal.user_id)
        rows = (
            await StaffPasskey.select()
            .where(StaffPasskey.staff_user == user["id"])
            .order_by(StaffPasskey.created_at)
            .order_by(StaffPasskey.id)
            .output(load_json=True)
        )
    return [passkey_out(r) for r in rows], bool(user["passkey_only"])


async def remove(tenant: TenantRef, principal: Principal, actor: Actor, passkey_id: str) -> None:
    async with tenant_scope(tenant):
        # Locking the user serialises removals against each other and against passkey-only.
        user = await StaffUser.select().where(StaffUser.id == principal.id).lock_rows().first()
        row = await access_own_passkey(passkey_id, principal.user_id)
        if user and user["passkey_only"] and await count_passkeys(user["id"]) <= 1:
            raise Conflict(
                _(
                    "This is your last passkey and your account signs in with passkeys only. "
                    "Turn on password sign-in first."
                )
            )
        await StaffPasskey.delete().where(StaffPasskey.id == row["id"])
        await audit.record(actor, "passkey.removed", "staff_passkey", row["id"], name=row["name"])


async def set_passkey_only(
    tenant: TenantRef, principal: Principal, actor: Actor, enabled: bool
) -> bool:
    async with tenant_scope(tenant):
        user = await StaffUser.select().where(StaffUser.id == principal.id).lock_rows().first()
        if user is None:
            raise Unauthorized(_("Sign in first."))
        if enabled and await count_passkeys(user["id"]) == 0:
            raise Conflict(
                _("Register a passkey before turning off password sign-in."), field="enabled"
            )
        if bool(user["passkey_only"]) != enabled:
            await StaffUser.update({StaffUser.passkey_only: enabled}).where(
                StaffUser.id == user["id"]
            )
            await audit.record(
                actor, "auth.passkey_only_changed", "staff_user", user["id"], enabled=enabled
            )
    return enabled
