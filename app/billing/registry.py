"""Billing's object in the `public` schema: the trigger function that freezes issued documents
(shared by every tenant's `invoice` table, like `public.wisp_forbid_change()`)."""

from __future__ import annotations

# An issued (numbered) invoice or credit note is a legal document: what it says never changes
# and it is never deleted. What may still move is the ledger's view of it: status, amount_paid,
# void_reason; and a seller snapshot may be attached once to a document that had none.
FROZEN = (
    "kind, subscriber_id, period_start, period_end, series, year, number, number_text,"
    " issue_date, due_date, currency, language, subtotal, tax_total, total, corrects_id,"
    " bill_to, created_at"
)
OLD = ", ".join(f"OLD.{c.strip()}" for c in FROZEN.split(","))
NEW = ", ".join(f"NEW.{c.strip()}" for c in FROZEN.split(","))

FUNCTION = f"""
CREATE OR REPLACE FUNCTION public.wisp_invoice_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.number IS NULL THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE'
        OR ROW({OLD}) IS DISTINCT FROM ROW({NEW})
        OR (OLD.issuer_id IS NOT NULL AND NEW.issuer_id IS DISTINCT FROM OLD.issuer_id)
    THEN
        RAISE EXCEPTION 'issued document % of %.% cannot change; correct it with a credit note',
            OLD.number_text, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""

DDL = (FUNCTION,)
"""Raw DDL of the public track (`tenants/ddl.py`)."""
