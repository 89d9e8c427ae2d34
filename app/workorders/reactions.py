"""What work orders do when subscribers change (`app.core.events`)."""

from __future__ import annotations

from app.core.events import reacts_to
from app.subscribers.events import SubscriberAwaitsInstallation, SubscriberCancelled
from app.workorders.machine import INSTALLATION, cancel_open_orders, new_work_order


@reacts_to(SubscriberAwaitsInstallation)
async def open_installation(event: SubscriberAwaitsInstallation) -> None:
    await new_work_order(
        event.subscriber_id,
        INSTALLATION,
        event.actor,
        event.description,
        work_order_id=event.work_order_id,
    )


@reacts_to(SubscriberCancelled)
async def cancel_unfinished_visits(event: SubscriberCancelled) -> None:
    await cancel_open_orders(event.subscriber_id, event.actor, event.at)
