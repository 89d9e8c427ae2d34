from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from app.core.i18n import current_language

if TYPE_CHECKING:
    from app.core.principal import Principal
    from tenants.registry import TenantRef

from app.core.inputs import Code, Email, Input, PersonName, Secret, ShortName


class LoginIn(Input, forbid_unknown_fields=True):
    email: Email
    password: Secret


class TenantOut(msgspec.Struct):
    slug: str
    name: str


class MeOut(msgspec.Struct):
    id: str
    email: str
    name: str
    role: str
    language: str
    tenant: TenantOut


class StaffOut(msgspec.Struct):
    id: str
    email: str
    name: str
    role: str
    is_active: bool
    created_at: str
    last_login_at: str | None


class Page(msgspec.Struct):
    items: list[StaffOut]
    next_cursor: str | None


class StaffPatchIn(Input, forbid_unknown_fields=True):
    role: Code | None = None
    name: PersonName | None = None


class LogoutEverywhereOut(msgspec.Struct):
    sessions_ended: int


class PasswordChangeIn(Input, forbid_unknown_fields=True):
    current_password: Secret
    new_password: Secret


class PasswordResetIn(Input, forbid_unknown_fields=True):
    email: Email


class PasswordResetConfirmIn(Input, forbid_unknown_fields=True):
    token: Secret
    password: Secret


class InvitationIn(Input, forbid_unknown_fields=True):
    email: Email
    role: Code


class InvitationOut(msgspec.Struct):
    id: str
    email: str
    role: str
    created_at: str
    expires_at: str
    sent: bool


class InvitationList(msgspec.Struct):
    items: list[InvitationOut]


class AcceptInvitationIn(Input, forbid_unknown_fields=True):
    token: Secret
    name: PersonName
    password: Secret


class ApiTokenIn(Input, forbid_unknown_fields=True):
    name: ShortName
    role: Code


class ApiTokenOut(msgspec.Struct):
    id: str
    name: str
    role: str
    hint: str
    created_at: str
    last_used_at: str | None


class ApiTokenCreated(msgspec.Struct):
    id: str
    name: str
    role: str
    hint: str
    created_at: str
    token: str | None
    """Shown once. A replay of the same Idempotency-Key answers null: only the hash is kept."""


class ApiTokenList(msgspec.Struct):
    items: list[ApiTokenOut]


class AuditEventOut(msgspec.Struct):
    id: str
    occurred_at: str
    actor_type: str
    actor_id: str | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    data: dict[str, object]
    ip: str
    request_id: str


class AuditPage(msgspec.Struct):
    items: list[AuditEventOut]
    next_cursor: str | None


def me_out(principal: Principal, tenant: TenantRef) -> MeOut:
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role,
        language=principal.language or current_language(),
        tenant=TenantOut(slug=tenant.slug, name=tenant.name),
    )
