from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, Integer, Numeric, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table


class Site(Table, tablename="site"):
    """A tower or a NOC."""

    id = UUID(primary_key=True)
    name = Varchar(length=120)
    kind = Varchar(length=10, default="tower")
    latitude = Numeric(digits=(9, 6), null=True, default=None)
    longitude = Numeric(digits=(9, 6), null=True, default=None)
    address = Varchar(length=300, default="")
    notes = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AccessPoint(Table, tablename="access_point"):
    """A point-to-multipoint sector on a site; CPE radios connect to it."""

    id = UUID(primary_key=True)
    site = ForeignKey(Site, on_delete=OnDelete.restrict)
    name = Varchar(length=120)
    frequency_mhz = Integer()
    ssid = Varchar(length=32, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


DDL = (
    "CREATE UNIQUE INDEX site_name ON site (lower(name))",
    "CREATE UNIQUE INDEX access_point_site_name ON access_point (site, lower(name))",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
