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


@tenant_actor(max_retries=5)
async def look_up_staff(scope: Scope, marker: str, email: str) -> None:
    """Counts its runs, then looks a staff user up by `email` (whatever the value holds)."""
    from app.identity.access import staff_by_email

    await get_redis().incr(f"wisp:test:{marker}")
    await get_redis().expire(f"wisp:test:{marker}", 300)
    await staff_by_email(email)
