"""What happens in the network inventory that other domains act on (`app.core.events`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from app.core.audit import Actor


@dataclass(frozen=True)
class AccessPointMoved:
    """An access point now stands at another site: whoever connects through it is there too."""

    required: ClassVar[bool] = True
    access_point_id: uuid.UUID
    site_id: uuid.UUID
    actor: Actor
