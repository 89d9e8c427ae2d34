"""What happens to rate plans that other domains act on (`app.core.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class PlanSpeedsChanged:
    """A plan's speeds changed: the network must enforce them for everyone on it."""

    required: ClassVar[bool] = True
    plan: dict[str, Any]
