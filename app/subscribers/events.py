"""What happens to subscribers that other domains act on (`app.core.events`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import ClassVar

from app.core.audit import Actor


@dataclass(frozen=True)
class Installation:
    subscriber_id: uuid.UUID
    work_order_id: uuid.UUID
    description: str = ""


@dataclass(frozen=True)
class SubscribersAwaitInstallation:
    """New subscribers who must be installed (one sale, or a whole CSV import): each one's
    installation work order opens under its `work_order_id`, in the same transaction (the
    sale's answer names it)."""

    required: ClassVar[bool] = True
    installations: list[Installation]
    actor: Actor


@dataclass(frozen=True)
class SubscriberCancelled:
    """The subscription ended: unfinished visits end with it."""

    required: ClassVar[bool] = True
    subscriber_id: uuid.UUID
    actor: Actor
    at: dt.datetime
