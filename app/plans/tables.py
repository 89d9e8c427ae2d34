from __future__ import annotations

from piccolo.columns import UUID, Integer, Numeric, Timestamptz, Varchar
from piccolo.table import Table


class RatePlan(Table, tablename="rate_plan"):
    """Money is NUMERIC(12, 4) in the plan's currency (the tenant's when it was created)."""

    id = UUID(primary_key=True)
    name = Varchar(length=120)
    download_kbps = Integer()
    upload_kbps = Integer()
    monthly_price = Numeric(digits=(12, 4))
    setup_fee = Numeric(digits=(12, 4), null=True, default=None)
    tax_rate = Numeric(digits=(7, 4), null=True, default=None)
    """Percent, e.g. 16.0000."""
    currency = Varchar(length=3)
    data_cap_gb = Integer(null=True, default=None)
    cap_action = Varchar(length=10, null=True, default=None)
    """`block` or `throttle` (to the throttle speeds) once the cap is reached."""
    throttle_download_kbps = Integer(null=True, default=None)
    throttle_upload_kbps = Integer(null=True, default=None)
    archived_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


DDL = (
    "CREATE UNIQUE INDEX rate_plan_name_live ON rate_plan (lower(name)) WHERE archived_at IS NULL",
    "ALTER TABLE rate_plan ADD CONSTRAINT rate_plan_money_not_negative CHECK"
    " (monthly_price >= 0 AND coalesce(setup_fee, 0) >= 0"
    " AND coalesce(tax_rate, 0) BETWEEN 0 AND 100)",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
