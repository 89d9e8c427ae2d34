"""Billing and invoicing: cycles, exactly-once invoices, numbering, payments, suspension."""
