"""Domain events: how a lower domain lets a higher one react without importing it.

Layers point down, so a domain never imports one above it. When a change in one domain must
change another's rows (a subscriber is added, so an installation work order opens; an access
point moves, so its subscribers' site follows), the lower domain defines an event (a frozen
dataclass in its `events.py`) and emits it inside its action's transaction; the higher domain
declares what it does about it in its `reactions.py`:

    @reacts_to(SubscriberAdded)
    async def open_installation(event: SubscriberAdded) -> None: ...

Reactions run in the emitter's transaction, one after another in domain order, so their writes
commit or roll back with the action's own, and their side effects go through the same
`after_commit`. An event that must be handled (`required = True` on its class) fails loudly
when no domain reacts to it, instead of silently doing half the job.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.core.discovery import domain_modules

E = TypeVar("E")
Reaction = Callable[[Any], Awaitable[None]]

_reactions: defaultdict[type, list[Reaction]] = defaultdict(list)


def reacts_to(event_type: type[E]) -> Callable[[Callable[[E], Awaitable[None]]], Reaction]:
    def register(fn: Callable[[E], Awaitable[None]]) -> Reaction:
        _reactions[event_type].append(fn)
        return fn

    return register


@functools.cache
def _load_reactions() -> int:
    return len(domain_modules("reactions"))


class Unhandled(RuntimeError):
    """A required event that no domain reacts to."""


async def emit(event: object) -> None:
    """Run every reaction to `event`, inside the caller's transaction."""
    _load_reactions()
    reactions = _reactions.get(type(event), [])
    if not reactions and getattr(event, "required", False):
        raise Unhandled(type(event).__name__)
    for reaction in reactions:
        await reaction(event)
