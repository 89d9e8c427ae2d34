from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.inputs import MULTILINE, Code, Id, Input, Moment, Money, PersonName, Rate, Reason

Days = Annotated[int, msgspec.Meta(ge=0, le=366)]
"""A count of days, a day of the month or an hour (the action checks the exact range)."""
TaxLabel = Annotated[str, msgspec.Meta(max_length=40)]
TaxId = Annotated[str, msgspec.Meta(max_length=60)]
Reference = Annotated[str, msgspec.Meta(max_length=120)]
LegalAddress = Annotated[str, msgspec.Meta(max_length=1000, extra={MULTILINE: True})]
"""Printed on invoices over several lines."""


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


class SettingsPatch(Input, forbid_unknown_fields=True, omit_defaults=True):
    currency: Code | msgspec.UnsetType = msgspec.UNSET
    timezone: Code | msgspec.UnsetType = msgspec.UNSET
    invoice_prefix: Code | msgspec.UnsetType = msgspec.UNSET
    credit_note_prefix: Code | msgspec.UnsetType = msgspec.UNSET
    payment_terms_days: Days | msgspec.UnsetType = msgspec.UNSET
    grace_days: Days | msgspec.UnsetType = msgspec.UNSET
    billing_policy: Code | msgspec.UnsetType = msgspec.UNSET
    billing_day: Days | msgspec.UnsetType | None = msgspec.UNSET
    tax_label: TaxLabel | msgspec.UnsetType = msgspec.UNSET
    tax_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    legal_name: PersonName | msgspec.UnsetType = msgspec.UNSET
    legal_address: LegalAddress | msgspec.UnsetType = msgspec.UNSET
    tax_id: TaxId | msgspec.UnsetType = msgspec.UNSET
    max_suspension_share: Rate | msgspec.UnsetType = msgspec.UNSET
    run_hour: Days | msgspec.UnsetType = msgspec.UNSET


class RunIn(Input, forbid_unknown_fields=True):
    as_of: Moment


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


class VoidIn(Input, forbid_unknown_fields=True):
    reason: Reason


class CreditNoteIn(Input, forbid_unknown_fields=True):
    reason: Reason
    amount: Money | None = None


class PaymentIn(Input, forbid_unknown_fields=True):
    subscriber_id: Id
    amount: Money
    method: Code
    reference: Reference = ""
    paid_on: Moment | None = None


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


class ReverseIn(Input, forbid_unknown_fields=True):
    reason: Reason


class ExemptionIn(Input, forbid_unknown_fields=True):
    until: Moment
    reason: Reason = ""
