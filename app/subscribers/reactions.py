"""What subscribers do when plans or the network inventory change (`app.core.events`)."""

from __future__ import annotations

from app import netstate
from app.core.events import reacts_to
from app.network.events import AccessPointMoved
from app.plans.events import PlanSpeedsChanged
from app.subscribers.tables import Subscriber


@reacts_to(PlanSpeedsChanged)
async def enforce_new_speeds(event: PlanSpeedsChanged) -> None:
    # Locked, so a suspension racing with this change records after it, with the new speeds,
    # instead of an older state under a newer version. In id order, as every writer that locks
    # several subscribers does.
    live = (
        await Subscriber.select()
        .where(
            Subscriber.plan == event.plan["id"],
            Subscriber.status.is_in(["active", "suspended"]),
        )
        .order_by(Subscriber.id)
        .lock_rows()
    )
    for subscriber in live:
        await netstate.record(subscriber, event.plan)


@reacts_to(AccessPointMoved)
async def follow_access_point(event: AccessPointMoved) -> None:
    """A subscriber's site follows the access point its CPE connects to, and so do the gateways
    that hold it (rows locked in id order: two moves never deadlock)."""
    moved = (
        await Subscriber.select(Subscriber.id)
        .where(Subscriber.access_point == event.access_point_id)
        .order_by(Subscriber.id)
        .lock_rows()
    )
    await Subscriber.update({Subscriber.site: event.site_id}).where(
        Subscriber.access_point == event.access_point_id
    )
    await netstate.follow([r["id"] for r in moved])
