"""What a subscriber sees of their own billing in the portal: invoices, PDFs, balance.

The subscriber comes from the session (a `subscriber` principal), never from the request, and
every query is filtered by that id, so another subscriber's invoice is "not found".
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec
from litestar import Controller, Response, get

from app.billing import money
from app.billing.invoices import invoice_out
from app.billing.pdf import invoice_pdf
from app.billing.schemas import InvoiceOut
from app.core.i18n import _
from app.core.principal import Principal
from app.core.problems import NotFound
from app.core.roles import SUBSCRIBER, allow
from tenants.context import on_tenant_host
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


class PortalBillingOut(msgspec.Struct):
    balance: str
    """What is owed now (negative: credit in the subscriber's favour)."""
    currency: str
    invoices: list[InvoiceOut]


def _invoice_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(_("No such invoice.")) from None


async def billing(tenant: TenantRef, principal: Principal) -> PortalBillingOut:
    subscriber_id = principal.id
    async with tenant_scope(tenant) as scope:
        conn = scope.connection
        rows = await conn.fetch(
            "SELECT * FROM invoice WHERE subscriber_id = $1 AND status <> 'void'"
            " ORDER BY issue_date DESC, id DESC LIMIT 100",
            subscriber_id,
        )
        owed = await conn.fetchval(
            "SELECT coalesce(sum(total - amount_paid), 0) FROM invoice"
            " WHERE subscriber_id = $1 AND status = 'open'",
            subscriber_id,
        )
        credit = await conn.fetchval(
            "SELECT coalesce(sum(unallocated), 0) FROM payment"
            " WHERE subscriber_id = $1 AND status = 'posted'",
            subscriber_id,
        )
    balance: Decimal = owed - credit
    return PortalBillingOut(
        balance=money.to_string(balance, tenant.currency),
        currency=tenant.currency,
        invoices=[invoice_out(r) for r in rows],
    )


async def own_invoice(tenant: TenantRef, principal: Principal, invoice_id: uuid.UUID) -> None:
    async with tenant_scope(tenant) as scope:
        found = await scope.connection.fetchval(
            "SELECT 1 FROM invoice WHERE id = $1 AND subscriber_id = $2 AND status <> 'void'",
            invoice_id,
            principal.id,
        )
    if not found:
        raise NotFound(_("No such invoice."))


class PortalBillingController(Controller):
    path = "/api/v1/portal/billing"
    guards = [on_tenant_host]
    tags = ["portal"]

    @get("", summary="The signed-in subscriber's invoices and balance", roles=allow(SUBSCRIBER))
    async def read(self, tenant: TenantRef, principal: Principal) -> PortalBillingOut:
        return await billing(tenant, principal)

    @get(
        "/invoices/{invoice_id:str}/pdf",
        summary="One of the subscriber's own invoices as a PDF",
        media_type="application/pdf",
        roles=allow(SUBSCRIBER),
    )
    async def pdf(
        self, invoice_id: str, tenant: TenantRef, principal: Principal
    ) -> Response[bytes]:
        iid = _invoice_id(invoice_id)
        await own_invoice(tenant, principal, iid)
        body = await invoice_pdf(tenant, iid)
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{iid}.pdf"'},
        )
