"""Housekeeping jobs for identity."""

from __future__ import annotations

from app.identity import sessions
from app.identity.tables import StaffUser
from workers.actors import Scope, tenant_actor


@tenant_actor(max_retries=3)
async def prune_sessions(scope: Scope) -> None:
    """Drop expired sessions from each user's index, so "sign out everywhere" stays cheap."""
    ids = await StaffUser.select(StaffUser.id)
    for row in ids:
        await sessions.prune(scope.tenant, str(row["id"]))
