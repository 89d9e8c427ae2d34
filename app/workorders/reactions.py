"""What work orders do when subscribers change (`app.core.events`)."""

from __future__ import annotations

from app.core.audit import AuditEvent, event_row
from app.core.db import insert_many
from app.core.events import reacts_to
from app.subscribers.events import SubscriberCancelled, SubscribersAwaitInstallation
from app.workorders.machine import INSTALLATION, cancel_open_orders, work_order_row
from app.workorders.tables import WorkOrder
from tenants.scope import current_scope


@reacts_to(SubscribersAwaitInstallation)
async def open_installations(event: SubscribersAwaitInstallation) -> None:
    """One installation work order per new subscriber, inserted together (an import may bring
    thousands), each with its audit record."""
    orders = [
        work_order_row(i.subscriber_id, INSTALLATION, event.actor, i.description, i.work_order_id)
        for i in event.installations
    ]
    audits = [
        event_row(
            event.actor,
            "work_order.create",
            "work_order",
            i.work_order_id,
            kind=INSTALLATION,
            subscriber_id=str(i.subscriber_id),
        )
        for i in event.installations
    ]
    connection = current_scope().connection
    await insert_many(connection, WorkOrder, list(orders))
    await insert_many(connection, AuditEvent, list(audits))


@reacts_to(SubscriberCancelled)
async def cancel_unfinished_visits(event: SubscriberCancelled) -> None:
    await cancel_open_orders(event.subscriber_id, event.actor, event.at)
