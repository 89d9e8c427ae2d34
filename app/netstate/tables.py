from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Integer, Timestamptz, Varchar
from piccolo.table import Table


class NetstateChange(Table, tablename="netstate_change"):
    """Append-only log of what the network must enforce per subscriber (a trigger refuses
    UPDATE and DELETE). A subscriber's current desired state is its highest version."""

    id = UUID(primary_key=True)
    version = BigInt(unique=True)
    subscriber_id = UUID()
    mac = Varchar(length=17, null=True, default=None)
    enabled = Boolean()
    reason = Varchar(length=20, null=True, default=None)
    download_kbps = Integer()
    upload_kbps = Integer()
    occurred_at = Timestamptz()
    site = UUID(null=True, default=None)
    """The site the subscriber is behind with this state: the gateways serving it hold it."""
    previous_site = UUID(null=True, default=None)
    """Where the network held the subscriber just before this change (null: it held it
    nowhere), so a gateway of that site that no longer serves it is told to forget it."""


class NetstateVersion(Table, tablename="netstate_version"):
    """One row per tenant schema: the last version handed out. Incremented with
    UPDATE ... RETURNING inside the writing transaction, so versions follow commit order."""

    id = UUID(primary_key=True)
    version = BigInt(default=0)


DDL = (
    "CREATE INDEX netstate_change_subscriber_version ON netstate_change"
    " (subscriber_id, version DESC)",
    # The desired-state log is history: append-only.
    "CREATE TRIGGER netstate_change_append_only BEFORE UPDATE OR DELETE ON netstate_change"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER netstate_change_no_truncate BEFORE TRUNCATE ON netstate_change"
    " FOR EACH STATEMENT EXECUTE FUNCTION public.wisp_forbid_change()",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
