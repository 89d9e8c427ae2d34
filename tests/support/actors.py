"""Actors that exist only for tests: they report what a job can see into Redis."""

from __future__ import annotations

import json

from app.core.redis import get_redis
from app.identity.tables import StaffUser
from tenants.jobs import Scope, tenant_actor


@tenant_actor(max_retries=0)
async def report_staff(scope: Scope, marker: str) -> None:
    emails = [r["email"] for r in await StaffUser.select(StaffUser.email)]
    await get_redis().set(
        f"wisp:test:{marker}", json.dumps({"tenant": scope.tenant.slug, "emails": emails}), ex=300
    )
