from __future__ import annotations

import msgspec


class SettingsOut(msgspec.Struct):
    currency: str
    timezone: str
    invoice_prefix: str
    credit_note_prefix: str
    payment_terms_days: int
    grace_days: int
    billing_policy: str
    billing_day: int | None
    tax_label: str
    tax_rate: str
    legal_name: str
    legal_address: str
    tax_id: str
    max_suspension_share: str
    run_hour: int


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    currency: str | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    invoice_prefix: str | msgspec.UnsetType = msgspec.UNSET
    credit_note_prefix: str | msgspec.UnsetType = msgspec.UNSET
    payment_terms_days: int | msgspec.UnsetType = msgspec.UNSET
    grace_days: int | msgspec.UnsetType = msgspec.UNSET
    billing_policy: str | msgspec.UnsetType = msgspec.UNSET
    billing_day: int | msgspec.UnsetType | None = msgspec.UNSET
    tax_label: str | msgspec.UnsetType = msgspec.UNSET
    tax_rate: str | msgspec.UnsetType = msgspec.UNSET
    legal_name: str | msgspec.UnsetType = msgspec.UNSET
    legal_address: str | msgspec.UnsetType = msgspec.UNSET
    tax_id: str | msgspec.UnsetType = msgspec.UNSET
    max_suspension_share: str | msgspec.UnsetType = msgspec.UNSET
    run_hour: int | msgspec.UnsetType = msgspec.UNSET


class RunIn(msgspec.Struct, forbid_unknown_fields=True):
    as_of: str


class RunOut(msgspec.Struct):
    id: str
    as_of: str
    status: str
    invoiced: int
    suspended: int
    reactivated: int
    halted_reason: str
    started_at: str
    finished_at: str | None


class InvoiceLineOut(msgspec.Struct):
    kind: str
    description: str
    quantity: str
    unit_price: str
    amount: str
    tax_rate: str
    tax_amount: str


class InvoiceOut(msgspec.Struct):
    id: str
    kind: str
    number: str
    subscriber_id: str
    issue_date: str
    due_date: str
    period_start: str | None
    period_end: str | None
    subtotal: str
    tax_total: str
    total: str
    amount_paid: str
    balance: str
    currency: str
    status: str
    void_reason: str
    corrects_id: str | None
    lines: list[InvoiceLineOut] | None = None


class InvoicePage(msgspec.Struct):
    items: list[InvoiceOut]
    next_cursor: str | None


class VoidIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class CreditNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    amount: str | None = None


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    subscriber_id: str
    amount: str
    method: str
    reference: str = ""
    paid_on: str | None = None


class AllocationOut(msgspec.Struct):
    invoice_id: str
    invoice_number: str
    amount: str


class PaymentOut(msgspec.Struct):
    id: str
    subscriber_id: str
    amount: str
    currency: str
    method: str
    reference: str
    paid_on: str
    status: str
    unallocated: str
    allocations: list[AllocationOut]
    subscriber_status: str


class PaymentPage(msgspec.Struct):
    items: list[PaymentOut]
    next_cursor: str | None


class ReverseIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class ExemptionIn(msgspec.Struct, forbid_unknown_fields=True):
    until: str
    reason: str = ""
