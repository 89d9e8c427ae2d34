"""The gateways' rows in `public`: how an enrollment token or a secret finds its tenant.

A gateway calls with nothing but its token or secret, and the tenant must come from that
credential, never from the request. These two lookups map the sha256 of a credential to its
tenant and gateway. They are only an index: the tenant's own `gateway` and
`gateway_enrollment_token` rows stay the authority, re-checked inside the tenant scope on
every call, and the lookups are written in the same transaction as those rows.
"""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from tenants.registry import Tenant


class GatewayTokenLookup(Table, tablename="gateway_token_lookup", schema="public"):
    token_hash = Varchar(length=64, primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, index=True)
    gateway_id = UUID()
    expires_at = Timestamptz()


class GatewaySecretLookup(Table, tablename="gateway_secret_lookup", schema="public"):
    secret_hash = Varchar(length=64, primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, index=True)
    gateway_id = UUID(index=True)
    expires_at = Timestamptz(null=True, default=None)
    """Set on the previous secret after a rotation: it stops working then."""
