"""What happens to subscribers that other domains act on (`app.core.events`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import ClassVar

from app.core.audit import Actor


@dataclass(frozen=True)
class SubscriberAwaitsInstallation:
    """A new subscriber who must be installed: the installation work order opens under
    `work_order_id`, in the same transaction (the sale's answer names it)."""

    required: ClassVar[bool] = True
    subscriber_id: uuid.UUID
    work_order_id: uuid.UUID
    description: str
    actor: Actor


@dataclass(frozen=True)
class SubscriberCancelled:
    """The subscription ended: unfinished visits end with it."""

    required: ClassVar[bool] = True
    subscriber_id: uuid.UUID
    actor: Actor
    at: dt.datetime
