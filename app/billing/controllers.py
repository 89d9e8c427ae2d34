"""Billing routes: settings, runs, invoices and credit notes, payments, exemptions."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Controller, Response, get, patch, post
from litestar.params import Parameter

from app.billing import invoices, payments, reports, runs, settings_actions
from app.billing.exemptions import exempt
from app.billing.pdf import invoice_pdf
from app.billing.portal import PortalBillingController
from app.billing.schemas import (
    CreditNoteIn,
    ExemptionIn,
    InvoiceOut,
    InvoicePage,
    PaymentIn,
    PaymentOut,
    PaymentPage,
    ReverseIn,
    RunIn,
    RunOut,
    SettingsOut,
    SettingsPatch,
    VoidIn,
)
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.jobs import enqueue
from app.core.problems import Invalid
from app.core.roles import Role, allow
from tenants.context import on_tenant_host
from tenants.registry import TenantRef


def _id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Invalid({field: _("This is not a valid id.")}) from None


class BillingController(Controller):
    path = "/api/v1/billing"
    guards = [on_tenant_host]
    tags = ["billing"]

    @get("/settings", summary="Billing settings", roles=allow(Role.MANAGER, Role.FINANCE))
    async def read_settings(self, tenant: TenantRef) -> SettingsOut:
        return await settings_actions.read(tenant)

    @patch("/settings", summary="Change billing settings", roles=allow(Role.MANAGER, Role.FINANCE))
    async def change_settings(
        self, data: SettingsPatch, tenant: TenantRef, actor: Actor
    ) -> SettingsOut:
        return await settings_actions.update(tenant, data, actor)

    @post(
        "/runs",
        summary="Run billing for a date",
        status_code=201,
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def start_run(
        self, idempotency: IdempotencyKey | None, data: RunIn, tenant: TenantRef, actor: Actor
    ) -> Response[RunOut]:
        as_of = runs.parse_as_of(data.as_of, tenant)
        run_id, billable = await runs.create(tenant, as_of, actor, idempotency)
        if billable > runs.INLINE_LIMIT:
            run = await runs.get(tenant, run_id)
            if run.status == "queued":  # a retry sends it again: the job claims it once
                await enqueue("billing.run_billing", tenant.id, run_id)
            return Response(run, status_code=202)
        return Response(await runs.execute(tenant, run_id, actor), status_code=201)

    @get(
        "/runs/{run_id:str}",
        summary="A billing run and what it did",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def read_run(self, run_id: str, tenant: TenantRef) -> RunOut:
        return await runs.get(tenant, _id(run_id))


class InvoiceController(Controller):
    path = "/api/v1/invoices"
    guards = [on_tenant_host]
    tags = ["billing"]

    @get(
        "",
        summary="Invoices and credit notes, newest first",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def list_invoices(
        self,
        tenant: TenantRef,
        subscriber_id: str | None = None,
        status: str | None = None,
        kind: str | None = Parameter(default=None, pattern="^(invoice|credit_note)$"),
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
    ) -> InvoicePage:
        sub = _id(subscriber_id, "subscriber_id") if subscriber_id else None
        items, nxt = await invoices.list_invoices(tenant, sub, status, kind, limit, cursor)
        return InvoicePage(items=items, next_cursor=nxt)

    @get(
        "/{invoice_id:str}",
        summary="An invoice with its lines",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def read_invoice(self, invoice_id: str, tenant: TenantRef) -> InvoiceOut:
        return await invoices.get_invoice(tenant, _id(invoice_id))

    @get(
        "/{invoice_id:str}/pdf",
        summary="The invoice as a PDF",
        media_type="application/pdf",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def pdf(self, invoice_id: str, tenant: TenantRef) -> Response[bytes]:
        invoice = await invoices.get_invoice(tenant, _id(invoice_id))
        body = await invoice_pdf(tenant, _id(invoice_id))
        name = (invoice.number or invoice.id) + ".pdf"
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    @post(
        "/{invoice_id:str}/void",
        summary="Void an invoice nothing was paid on",
        status_code=200,
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def void(
        self, invoice_id: str, data: VoidIn, tenant: TenantRef, actor: Actor
    ) -> InvoiceOut:
        return await invoices.void(tenant, _id(invoice_id), data.reason, actor)

    @post(
        "/{invoice_id:str}/credit-notes",
        summary="Correct an invoice with a credit note",
        status_code=201,
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def credit(
        self,
        idempotency: IdempotencyKey | None,
        invoice_id: str,
        data: CreditNoteIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> InvoiceOut:
        return await invoices.credit_note(
            tenant, _id(invoice_id), data.reason, data.amount, actor, idempotency
        )


class PaymentController(Controller):
    path = "/api/v1/payments"
    guards = [on_tenant_host]
    tags = ["billing"]

    @post("", summary="Post a payment", status_code=201, roles=allow(Role.MANAGER, Role.FINANCE))
    async def post_payment(
        self, idempotency: IdempotencyKey | None, data: PaymentIn, tenant: TenantRef, actor: Actor
    ) -> Response[PaymentOut]:
        out, created = await payments.post(tenant, data, actor, idempotency)
        return Response(out, status_code=201 if created else 200)

    @get("", summary="Payments, newest first", roles=allow(Role.MANAGER, Role.FINANCE))
    async def list_payments(
        self,
        tenant: TenantRef,
        subscriber_id: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
    ) -> PaymentPage:
        sub = _id(subscriber_id, "subscriber_id") if subscriber_id else None
        items, nxt = await payments.list_payments(tenant, sub, limit, cursor)
        return PaymentPage(items=items, next_cursor=nxt)

    @post(
        "/{payment_id:str}/reverse",
        summary="Reverse a payment",
        status_code=200,
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def reverse(
        self, payment_id: str, data: ReverseIn, tenant: TenantRef, actor: Actor
    ) -> PaymentOut:
        return await payments.reverse(tenant, _id(payment_id), data.reason, actor)


class BillingReportController(Controller):
    path = "/api/v1/reports/billing"
    guards = [on_tenant_host]
    tags = ["reports"]

    @get(
        "/subscribers",
        summary="Subscribers with status, billed date, due date and balance",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def subscribers(self, tenant: TenantRef) -> list[reports.SubscriberBilling]:
        return await reports.subscribers_report(tenant)

    @get(
        "/aging",
        summary="Open balances by days past due (0-30, 31-60, 61-90, 90+)",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def aging(self, tenant: TenantRef, as_of: str | None = None) -> reports.AgingReport:
        return await reports.aging(tenant, _date(as_of, "as_of"))

    @get(
        "/exports/{kind:str}",
        summary="Invoices, credit notes or payments as CSV",
        media_type="text/csv",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def export(
        self, kind: str, tenant: TenantRef, since: str | None = None, until: str | None = None
    ) -> Response[str]:
        if kind not in ("invoices", "credit-notes", "payments"):
            raise Invalid({"kind": _("Choose invoices, credit-notes or payments.")})
        body = await reports.export(tenant, kind, _date(since, "since"), _date(until, "until"))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{tenant.slug}-{kind}.csv"'},
        )


def _date(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid({field: _("Use a date like 2026-01-31.")}) from None


class ExemptionController(Controller):
    path = "/api/v1/subscribers/{subscriber_id:str}/suspension-exemption"
    guards = [on_tenant_host]
    tags = ["billing"]

    @post(
        "",
        summary="Exempt a subscriber from automatic suspension until a date",
        status_code=200,
        roles=allow(Role.MANAGER),
    )
    async def set_exemption(
        self, subscriber_id: str, data: ExemptionIn, tenant: TenantRef, actor: Actor
    ) -> dict[str, str]:
        try:
            until = dt.date.fromisoformat(data.until)
        except ValueError:
            raise Invalid({"until": _("Use a date like 2026-01-31.")}) from None
        await exempt(tenant, _id(subscriber_id, "subscriber_id"), until, data.reason, actor)
        return {"subscriber_id": subscriber_id, "until": until.isoformat()}


HANDLERS = [
    BillingController,
    InvoiceController,
    PaymentController,
    ExemptionController,
    BillingReportController,
    PortalBillingController,
]
