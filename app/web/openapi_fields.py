"""What the API's string fields really hold: formats, patterns and enums for the OpenAPI document.

The msgspec Structs type these fields as plain `str` (their values are checked by the actions,
with translated messages). This vocabulary, applied to the generated document by
`app.web.openapi`, tells clients (and the API fuzzer) what each one holds. Enums are built from
the constants the code itself uses, so the document cannot drift from them; the fuzzer's
response-schema check proves the rest against real answers.
"""

from __future__ import annotations

from typing import Any

from app.billing import invoices as billing_invoices
from app.billing.payments import METHODS
from app.billing.periods import ANNIVERSARY
from app.billing.reports import BUCKETS
from app.core.i18n import LANGUAGES
from app.core.roles import Role
from app.gateways.commands import LINK_TEST
from app.netstate.state import REASONS
from app.network.actions import SITE_KINDS
from app.plans.actions import CAP_ACTIONS
from app.signup.validation import SLUG_RE
from app.subscribers import status as subscriber_status
from app.workorders import machine
from app.workorders.attachments import EXTENSIONS

UUID: dict[str, Any] = {"format": "uuid"}
DATE: dict[str, Any] = {"format": "date"}
DATE_TIME: dict[str, Any] = {"format": "date-time"}
EMAIL: dict[str, Any] = {"format": "email"}
DECIMAL: dict[str, Any] = {
    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "A decimal number as a string (money is never a JSON number).",
}
CURRENCY: dict[str, Any] = {"pattern": "^[A-Z]{3}$", "description": "ISO 4217 code."}
MAC: dict[str, Any] = {"pattern": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"}


def enum(*values: str) -> dict[str, Any]:
    return {"enum": list(values)}


ROLES = enum(*(r.value for r in Role))
SUBSCRIBER_STATUSES = enum(*subscriber_status.STATUSES)
SUSPENSION_REASONS = enum(*REASONS)
WORK_ORDER_STATUSES = enum(*machine.STATUSES)
GATEWAY_STATUSES = enum("pending", "online", "offline", "revoked")
COMMAND_STATUSES = enum("pending", "delivered", "done", "failed", "expired")
INVOICE_KINDS = enum("invoice", "credit_note")
LANGUAGE = enum(*LANGUAGES)

# Fields named so hold the same thing in every schema (request, response and query).
BY_NAME: dict[str, dict[str, Any]] = {
    "email": EMAIL,
    "currency": CURRENCY,
    "role": ROLES,
    "language": LANGUAGE,
    "ts": DATE_TIME,
    "as_of": DATE,
    "since": DATE,
    "until": DATE,
    "previous_valid_until": DATE_TIME,
    "offline_since": DATE_TIME,
    "cap_action": enum(*CAP_ACTIONS),
    "billing_policy": enum(ANNIVERSARY, "fixed_day"),
    "suspension_reason": SUSPENSION_REASONS,
    "subscriber_status": SUBSCRIBER_STATUSES,
    "from_status": SUBSCRIBER_STATUSES,
    "to_status": SUBSCRIBER_STATUSES,
    "cpe_mac": MAC,
    "period_start": DATE,
    "period_end": DATE,
    "created_by": UUID,
    "uploaded_by": UUID,
    "sha256": {"pattern": "^[0-9a-f]{64}$"},
    "slug": {"pattern": SLUG_RE.pattern},
    "portal_url": {"format": "uri"},
    "authenticatorAttachment": enum("platform", "cross-platform"),
    "bucket": enum(*(b[0] for b in BUCKETS)),
    **{
        name: DECIMAL
        for name in (
            "amount",
            "amount_paid",
            "balance",
            "monthly_price",
            "setup_fee",
            "subtotal",
            "tax_amount",
            "tax_total",
            "tax_rate",
            "total",
            "unallocated",
            "unit_price",
            "quantity",
            "max_suspension_share",
        )
    },
}

# By suffix, unless the name is in NOT_BY_SUFFIX.
BY_SUFFIX: tuple[tuple[str, dict[str, Any]], ...] = (
    ("_at", DATE_TIME),
    ("_date", DATE),
    ("_on", DATE),
    ("_id", UUID),
)
# Ids that are not ours (another system's, a browser's, a device's) or not always a UUID.
NOT_BY_SUFFIX = frozenset(
    {
        *("external_id", "request_id", "hardware_id", "boot_id", "rp_id", "object_id"),
        *("actor_id", "tax_id"),
    }
)

# `id` is a UUID in every schema but these (a WebAuthn credential id, a gateway's own ids).
ID_IS_NOT_UUID = frozenset(
    {"CredentialIn", "RegistrationIn", "AckFailure", "Failure", "UsageIn", "PasskeyOut"}
)

# Fields whose meaning depends on the schema they are in: "Schema.field".
BY_SCHEMA_FIELD: dict[str, dict[str, Any]] = {
    **{
        f"{schema}.status": SUBSCRIBER_STATUSES
        for schema in ("SubscriberOut", "SubscriberCreatedOut", "PortalMeOut")
    },
    "SuspendIn.reason": SUSPENSION_REASONS,
    # An API token has no address: its `me` says "".
    "MeOut.email": {"pattern": "^$|^[^@]+@[^@]+$", "description": "Empty for an API token."},
    "InvoiceOut.status": enum(*billing_invoices.STATUSES),
    "InvoiceOut.kind": INVOICE_KINDS,
    "PaymentIn.method": enum(*METHODS),
    "PaymentOut.method": enum(*METHODS),
    "PaymentOut.status": enum("posted", "reversed"),
    "RunOut.status": enum("queued", "running", "done", "halted", "failed"),
    "GatewayOut.status": GATEWAY_STATUSES,
    "GatewayCreated.status": GATEWAY_STATUSES,
    "LinkTestOut.status": COMMAND_STATUSES,
    "CommandOut.status": COMMAND_STATUSES,
    "CommandOut.kind": enum(LINK_TEST),
    "WorkOrderOut.status": WORK_ORDER_STATUSES,
    "WorkOrderOut.kind": enum(*machine.KINDS),
    "WorkOrderIn.kind": enum(*(k for k in machine.KINDS if k != machine.INSTALLATION)),
    "SiteIn.kind": enum(*SITE_KINDS),
    "SiteOut.kind": enum(*SITE_KINDS),
    "SitePatch.kind": enum(*SITE_KINDS),
    "PortalDecision.action": enum("allow", "redirect"),
    "PortalDecision.reason": enum(*REASONS, "unknown", "not_active", "circuit_failure"),
    "SubscriberBilling.status": SUBSCRIBER_STATUSES,
    "PhotoOut.content_type": enum(*EXTENSIONS),
    "PhotoOut.url": {"format": "uri-reference"},
    "PasskeyOut.device_type": enum("single_device", "multi_device"),
    "CredentialIn.type": enum("public-key"),
    "RegistrationIn.type": enum("public-key"),
}

# Query parameters whose meaning depends on the route: "METHOD /path template.name".
BY_PARAMETER: dict[str, dict[str, Any]] = {
    "GET /api/v1/subscribers.status": SUBSCRIBER_STATUSES,
    "GET /api/v1/invoices.status": enum(*billing_invoices.STATUSES),
    "GET /api/v1/invoices.kind": INVOICE_KINDS,
    "GET /api/v1/work-orders.status": WORK_ORDER_STATUSES,
    "GET /api/v1/work-orders.kind": enum(*machine.KINDS),
    "GET /api/v1/reports/billing/exports/{kind}.kind": enum("invoices", "credit-notes", "payments"),
    "GET /api/v1/audit-log.since": DATE_TIME,
    "GET /api/v1/audit-log.until": DATE_TIME,
    "GET /api/v1/gateways/{gateway_id}/telemetry.since": DATE_TIME,
}


def for_field(schema_name: str, field: str) -> dict[str, Any] | None:
    """What to add to the string schema of `field` in component `schema_name`, if anything."""
    if (found := BY_SCHEMA_FIELD.get(f"{schema_name}.{field}")) is not None:
        return found
    if field == "id":
        return None if schema_name in ID_IS_NOT_UUID else UUID
    if (found := BY_NAME.get(field)) is not None:
        return found
    if field in NOT_BY_SUFFIX:
        return None
    for suffix, extra in BY_SUFFIX:
        if field.endswith(suffix):
            return extra
    return None


def for_parameter(route: str, name: str) -> dict[str, Any] | None:
    """What to add to a path or query parameter's string schema (`route` is "GET /path")."""
    if (found := BY_PARAMETER.get(f"{route}.{name}")) is not None:
        return found
    if name in ("status", "kind", "cursor", "q"):
        return None
    return for_field("", name)
