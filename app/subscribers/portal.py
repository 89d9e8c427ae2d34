"""Subscriber accounts: the portal principal, separate from staff.

A subscriber signs in on the tenant host with the email on their subscriber record; the session
carries `Principal(kind="subscriber")`, so the role × route table lets it reach portal routes
only, and portal routes admit no staff session.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.principal import Principal
from app.core.problems import Invalid, Unauthorized
from app.core.timeutil import now
from app.identity import sessions, throttle
from app.identity.passwords import (
    hash_password_async,
    needs_rehash,
    password_problem,
    verify_password_async,
)
from app.identity.tokens import matches, plausible, token_hash
from app.plans.access import access_plan
from app.plans.money import amount_str
from app.subscribers import status as st
from app.subscribers.access import access_subscriber, normalise_email
from app.subscribers.tables import Subscriber, SubscriberAccount
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

SUBSCRIBER_KIND = "subscriber"


class PortalPlanOut(msgspec.Struct):
    name: str
    download_kbps: int
    upload_kbps: int
    monthly_price: str
    currency: str
    data_cap_gb: int | None


class PortalAccountOut(msgspec.Struct):
    id: str
    name: str
    email: str
    phone: str
    address: str
    language: str | None


class PortalMeOut(msgspec.Struct):
    account: PortalAccountOut
    plan: PortalPlanOut
    status: str
    suspension_reason: str | None
    billing_start_date: str | None


def principal_for(subscriber: dict[str, Any]) -> Principal:
    return Principal(
        kind=SUBSCRIBER_KIND,
        user_id=str(subscriber["id"]),
        email=subscriber["email"],
        name=subscriber["name"],
        role=SUBSCRIBER_KIND,
        language=subscriber["language"],
        created_at=0.0,
    )


def as_subscriber(subscriber: dict[str, Any], actor: Actor) -> Actor:
    return Actor(
        type=SUBSCRIBER_KIND,
        id=subscriber["id"],
        label=subscriber["email"],
        ip=actor.ip,
        request_id=actor.request_id,
    )


def _bad_token() -> Invalid:
    return Invalid({"token": _("This invitation link is not valid or has expired.")})


async def accept_invitation(
    tenant: TenantRef, token: str, password: str, actor: Actor
) -> tuple[str, Principal]:
    """Set the password with the emailed token (single use, 72 h) and sign in."""
    await throttle.check(tenant, None, actor.ip)
    session_id, principal = "", None
    failure: Invalid | None = None
    async with tenant_scope(tenant):
        account = None
        if plausible(token):
            account = (
                await SubscriberAccount.select()
                .where(SubscriberAccount.invitation_hash == token_hash(token))
                .lock_rows()
                .first()
            )
        expires = account["invitation_expires_at"] if account else None
        if (
            account is None
            or not matches(token, account["invitation_hash"])
            or expires is None
            or expires < now()
        ):
            failure = _bad_token()
        else:
            subscriber = await access_subscriber(account["subscriber"])
            if subscriber["status"] == st.CANCELLED:
                failure = _bad_token()
            elif problem := password_problem(password, subscriber["email"], subscriber["name"]):
                raise Invalid({"password": problem})
            else:
                await SubscriberAccount.update(
                    {
                        SubscriberAccount.password_hash: await hash_password_async(password),
                        SubscriberAccount.invitation_hash: None,
                        SubscriberAccount.invitation_expires_at: None,
                        SubscriberAccount.activated_at: now(),
                        SubscriberAccount.last_login_at: now(),
                    }
                ).where(SubscriberAccount.id == account["id"])
                who = as_subscriber(subscriber, actor)
                await audit.record(who, "portal.invitation_accepted", "subscriber", who.id)
                principal = principal_for(subscriber)
                session_id = await sessions.start(tenant, principal)
    if failure is not None or principal is None:
        await throttle.failed(tenant, None, actor.ip)
        raise failure or _bad_token()
    await throttle.succeeded(tenant, None, actor.ip)
    return session_id, principal


async def login(
    tenant: TenantRef, email: str, password: str, actor: Actor
) -> tuple[str, Principal]:
    """The same answer for an unknown email, a wrong password and a closed account."""
    address = normalise_email(email)[:320]
    await throttle.check(tenant, f"subscriber:{address}", actor.ip)
    session_id, principal = "", None
    async with tenant_scope(tenant):
        subscriber = await Subscriber.select().where(Subscriber.email == address).first()
        account = None
        if subscriber is not None:
            account = (
                await SubscriberAccount.select()
                .where(SubscriberAccount.subscriber == subscriber["id"])
                .first()
            )
        stored = account["password_hash"] if account else None
        ok = await verify_password_async(stored, password)
        if subscriber is None or account is None or not ok or subscriber["status"] == st.CANCELLED:
            await audit.record(
                actor,
                "portal.login_failed",
                "subscriber",
                subscriber["id"] if subscriber else "",
                email=address,
            )
        else:
            updates: dict[Any, Any] = {SubscriberAccount.last_login_at: now()}
            if stored and needs_rehash(stored):
                updates[SubscriberAccount.password_hash] = await hash_password_async(password)
            await SubscriberAccount.update(updates).where(SubscriberAccount.id == account["id"])
            who = as_subscriber(subscriber, actor)
            await audit.record(who, "portal.login", "subscriber", who.id)
            principal = principal_for(subscriber)
            session_id = await sessions.start(tenant, principal)
    if principal is None:
        await throttle.failed(tenant, f"subscriber:{address}", actor.ip)
        raise Unauthorized(_("The email or password is not correct."))
    await throttle.succeeded(tenant, f"subscriber:{address}", actor.ip)
    return session_id, principal


async def me(tenant: TenantRef, principal: Principal) -> PortalMeOut:
    if principal.kind != SUBSCRIBER_KIND:  # the route table already refuses staff
        raise Unauthorized(_("Sign in first."))
    async with tenant_scope(tenant):
        subscriber = await access_subscriber(uuid.UUID(principal.user_id))
        plan = await access_plan(subscriber["plan"])
    start = subscriber["billing_start_date"]
    return PortalMeOut(
        account=PortalAccountOut(
            id=str(subscriber["id"]),
            name=subscriber["name"],
            email=subscriber["email"],
            phone=subscriber["phone"],
            address=subscriber["address"],
            language=subscriber["language"],
        ),
        plan=PortalPlanOut(
            name=plan["name"],
            download_kbps=plan["download_kbps"],
            upload_kbps=plan["upload_kbps"],
            monthly_price=amount_str(plan["monthly_price"]) or "0.00",
            currency=plan["currency"],
            data_cap_gb=plan["data_cap_gb"],
        ),
        status=subscriber["status"],
        suspension_reason=subscriber["suspension_reason"],
        billing_start_date=start.isoformat() if start else None,
    )
