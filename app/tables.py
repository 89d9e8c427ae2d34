"""Every tenant table class, in one list: the tenant migration track is built from it."""

from __future__ import annotations

from piccolo.table import Table

from app.audit import AuditEvent
from app.idempotency import IdempotencyRecord
from app.identity.tables import StaffUser

TENANT_TABLES: list[type[Table]] = [AuditEvent, IdempotencyRecord, StaffUser]
