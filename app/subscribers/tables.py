from __future__ import annotations

from piccolo.columns import (
    UUID,
    Date,
    ForeignKey,
    Numeric,
    OnDelete,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.network.tables import AccessPoint, Site
from app.plans.tables import RatePlan


class Subscriber(Table, tablename="subscriber"):
    """A subscriber of the WISP. `cpe_mac` is unique among live subscribers (a partial index),
    and a check constraint keeps an active or suspended subscriber from having no CPE."""

    id = UUID(primary_key=True)
    name = Varchar(length=200)
    email = Varchar(length=320, unique=True)
    phone = Varchar(length=40, default="")
    address = Varchar(length=300, default="")
    latitude = Numeric(digits=(9, 6), null=True, default=None)
    longitude = Numeric(digits=(9, 6), null=True, default=None)
    language = Varchar(length=8, null=True, default=None)
    plan = ForeignKey(RatePlan, on_delete=OnDelete.restrict)
    site = ForeignKey(Site, null=True, default=None, on_delete=OnDelete.restrict)
    access_point = ForeignKey(AccessPoint, null=True, default=None, on_delete=OnDelete.restrict)
    cpe_mac = Varchar(length=17, null=True, default=None)
    cpe_authenticated_at = Timestamptz(null=True, default=None)
    status = Varchar(length=24, index=True)
    suspension_reason = Varchar(length=20, null=True, default=None)
    billing_start_date = Date(null=True, default=None)
    activated_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    external_id = Varchar(length=100, null=True, default=None, unique=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SubscriberStatusChange(Table, tablename="subscriber_status_change"):
    id = UUID(primary_key=True)
    subscriber = ForeignKey(Subscriber, on_delete=OnDelete.restrict, index=True)
    from_status = Varchar(length=24, null=True, default=None)
    to_status = Varchar(length=24)
    reason = Varchar(length=20, null=True, default=None)
    note = Varchar(length=500, default="")
    actor_type = Varchar(length=20)
    actor_id = UUID(null=True, default=None)
    actor_label = Varchar(length=320, default="")
    occurred_at = Timestamptz()
    recorded_at = Timestamptz()


class PlanChange(Table, tablename="plan_change"):
    """An upgrade or downgrade; billing prorates from `effective_date` (the tenant's local day)."""

    id = UUID(primary_key=True)
    subscriber = ForeignKey(Subscriber, on_delete=OnDelete.restrict, index=True)
    from_plan = ForeignKey(RatePlan, on_delete=OnDelete.restrict)
    to_plan = ForeignKey(RatePlan, on_delete=OnDelete.restrict)
    effective_date = Date(index=True)
    created_by = UUID(null=True, default=None)
    created_by_label = Varchar(length=320, default="")
    created_at = Timestamptz()
    applied_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)


class SubscriberAccount(Table, tablename="subscriber_account"):
    """A subscriber's portal sign-in; the email is the subscriber's own."""

    id = UUID(primary_key=True)
    subscriber = ForeignKey(Subscriber, on_delete=OnDelete.restrict, unique=True)
    password_hash = Varchar(length=200, null=True, default=None)
    invitation_hash = Varchar(length=64, null=True, default=None, unique=True)
    invitation_expires_at = Timestamptz(null=True, default=None)
    invited_at = Timestamptz(null=True, default=None)
    activated_at = Timestamptz(null=True, default=None)
    last_login_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


# `status::text IN (...)`: PostgreSQL prints such a check back in a form that parses to the same
# text again, so a tenant cloned from the template has byte-identical constraints.
DDL = (
    # A CPE MAC belongs to one live subscriber; a cancelled subscriber's MAC is free again.
    "CREATE UNIQUE INDEX subscriber_cpe_mac_live ON subscriber (cpe_mac)"
    " WHERE cpe_mac IS NOT NULL AND status <> 'cancelled'",
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_status_valid CHECK (status::text IN"
    " ('pending_installation', 'active', 'suspended', 'cancelled'))",
    # Never active (or suspended) without an authenticated CPE, whatever the code path.
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_installed_has_cpe CHECK"
    " (status::text NOT IN ('active', 'suspended')"
    " OR (cpe_mac IS NOT NULL AND cpe_authenticated_at IS NOT NULL))",
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_suspension_reason CHECK"
    " ((status = 'suspended') = (suspension_reason IS NOT NULL))",
    "CREATE INDEX subscriber_name_order ON subscriber (lower(name), id)",
    "CREATE INDEX subscriber_plan ON subscriber (plan)",
    "CREATE INDEX subscriber_site ON subscriber (site)",
    "CREATE INDEX subscriber_phone ON subscriber (phone)",
    "CREATE UNIQUE INDEX plan_change_one_pending ON plan_change (subscriber)"
    " WHERE applied_at IS NULL AND cancelled_at IS NULL",
    # The status history is history: append-only.
    "CREATE TRIGGER subscriber_status_change_append_only BEFORE UPDATE OR DELETE"
    " ON subscriber_status_change FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
