"""Billing tables. Exactly-once and gapless numbering are enforced by the database, not luck:
one invoice per (subscriber, period start) by a unique constraint, numbers from a counter row
updated in the finalising transaction (a sequence would leave gaps on rollback)."""

from __future__ import annotations

from decimal import Decimal

from piccolo.columns import (
    JSONB,
    UUID,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table

MONEY = (14, 4)


class BillingSettings(Table, tablename="billing_settings"):
    id = UUID(primary_key=True)
    singleton = Boolean(default=True, unique=True)
    invoice_prefix = Varchar(length=12, default="INV")
    credit_note_prefix = Varchar(length=12, default="CN")
    payment_terms_days = Integer(default=15)
    grace_days = Integer(default=7)
    billing_policy = Varchar(length=20, default="anniversary")
    billing_day = Integer(null=True, default=None)
    tax_label = Varchar(length=40, default="Tax")
    tax_rate = Numeric(digits=(7, 4), default=Decimal("0"))
    legal_name = Varchar(length=200, default="")
    legal_address = Text(default="")
    tax_id = Varchar(length=60, default="")
    max_suspension_share = Numeric(digits=(5, 4), default=Decimal("0.2500"))
    run_hour = Integer(default=6)
    updated_at = Timestamptz()


class NumberCounter(Table, tablename="number_counter"):
    """The next legal number of a series in a year; locked and bumped when finalising."""

    id = UUID(primary_key=True)
    series = Varchar(length=12)
    year = Integer()
    next_number = Integer(default=1)
    unique_series_year = Unique(["series", "year"])


class Invoice(Table, tablename="invoice"):
    """An invoice or a credit note (`kind`). Issued documents are never edited."""

    id = UUID(primary_key=True)
    kind = Varchar(length=12, default="invoice")
    subscriber_id = UUID(index=True)
    period_start = Date(null=True, default=None)
    period_end = Date(null=True, default=None)
    series = Varchar(length=12)
    year = Integer()
    number = Integer(null=True, default=None)
    number_text = Varchar(length=40, default="")
    issue_date = Date()
    due_date = Date()
    currency = Varchar(length=3)
    language = Varchar(length=8, default="en")
    subtotal = Numeric(digits=MONEY, default=Decimal("0"))
    tax_total = Numeric(digits=MONEY, default=Decimal("0"))
    total = Numeric(digits=MONEY, default=Decimal("0"))
    amount_paid = Numeric(digits=MONEY, default=Decimal("0"))
    status = Varchar(length=12, default="open", index=True)
    void_reason = Text(default="")
    corrects_id = UUID(null=True, default=None)
    bill_to = Text(default="")
    issuer_id = UUID(null=True, default=None)
    """The `issuer_snapshot` the document was issued with: the seller as it was then."""
    created_at = Timestamptz()
    one_per_period = Unique(["subscriber_id", "period_start", "kind"])
    unique_number = Unique(["series", "year", "number"])


class IssuerSnapshot(Table, tablename="issuer_snapshot"):
    """The seller's details as printed on documents, frozen (append-only, by trigger).

    Shared: documents issued with identical details point at one row (`digest` is the SHA-256 of
    `data`), so a billing run writes one id per invoice instead of a copy of the details.
    """

    id = UUID(primary_key=True)
    digest = Varchar(length=64, unique=True)
    data = JSONB()
    created_at = Timestamptz()


class InvoiceLine(Table, tablename="invoice_line"):
    id = UUID(primary_key=True)
    invoice = ForeignKey(Invoice, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    kind = Varchar(length=20)
    description = Varchar(length=300)
    quantity = Numeric(digits=(10, 6), default=Decimal("1"))
    unit_price = Numeric(digits=MONEY, default=Decimal("0"))
    amount = Numeric(digits=MONEY, default=Decimal("0"))
    tax_rate = Numeric(digits=(7, 4), default=Decimal("0"))
    tax_amount = Numeric(digits=MONEY, default=Decimal("0"))
    service_start = Date(null=True, default=None)
    """The start of the period a plan charge is for, so later corrections can compare."""


class Payment(Table, tablename="payment"):
    id = UUID(primary_key=True)
    subscriber_id = UUID(index=True)
    amount = Numeric(digits=MONEY)
    currency = Varchar(length=3)
    method = Varchar(length=30)
    reference = Varchar(length=120, default="")
    paid_on = Date()
    status = Varchar(length=12, default="posted")
    unallocated = Numeric(digits=MONEY, default=Decimal("0"))
    reversed_at = Timestamptz(null=True, default=None)
    reversal_reason = Text(default="")
    created_at = Timestamptz()
    created_by = UUID(null=True, default=None)


class PaymentAllocation(Table, tablename="payment_allocation"):
    id = UUID(primary_key=True)
    payment = ForeignKey(Payment, on_delete=OnDelete.cascade, index=True)
    invoice = ForeignKey(Invoice, on_delete=OnDelete.cascade, index=True)
    amount = Numeric(digits=MONEY)
    created_at = Timestamptz()


class BillingRun(Table, tablename="billing_run"):
    id = UUID(primary_key=True)
    as_of = Date()
    status = Varchar(length=12, default="running")
    invoiced = Integer(default=0)
    suspended = Integer(default=0)
    reactivated = Integer(default=0)
    halted_reason = Text(default="")
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    started_by = UUID(null=True, default=None)


class SuspensionExemption(Table, tablename="suspension_exemption"):
    """A manager's word that a subscriber is not to be suspended for non-payment until a date."""

    id = UUID(primary_key=True)
    subscriber_id = UUID(unique=True)
    until = Date()
    reason = Text(default="")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz()


DDL = (
    # Issued documents are snapshots (docs/ARCHITECTURE.md): an issued invoice never changes,
    # its lines and its seller's details are never edited.
    "CREATE TRIGGER issuer_snapshot_append_only BEFORE UPDATE OR DELETE ON issuer_snapshot"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER invoice_line_append_only BEFORE UPDATE OR DELETE ON invoice_line"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER invoice_issued_frozen BEFORE UPDATE OR DELETE ON invoice"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_invoice_frozen()",
    # A payment's (method, reference) counts once. Partial: many payments legitimately have no
    # reference (cash at the office).
    "CREATE UNIQUE INDEX payment_method_reference ON payment (method, reference)"
    " WHERE reference <> '' AND status = 'posted'",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
