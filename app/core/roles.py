"""Who may call a route: the staff roles, subscribers, or anyone.

Each route handler declares its callers where it is written, `@get("/x", roles=allow(...))`
(Litestar keeps extra keywords in the handler's `opt`), and one app-wide guard
(`app.identity.permissions.authorize`) checks them, refusing any handler that declares none.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MANAGER = "manager"
    SALES = "sales"
    CUSTOMER_SERVICE = "customer_service"
    FINANCE = "finance"
    TECHNICAL = "technical"


ANYONE = "anyone"
"""No sign-in needed (the handler authenticates by other means, or nothing is secret)."""
SUBSCRIBER = "subscriber"
"""A subscriber signed in to the portal."""
STAFF = frozenset(role.value for role in Role)
"""Every staff role."""

Callers = frozenset[str]


def allow(*who: str | frozenset[str]) -> Callers:
    """`allow(Role.MANAGER, Role.FINANCE)`, `allow(STAFF, SUBSCRIBER)`, `allow(ANYONE)`."""
    out: set[str] = set()
    for w in who:
        out |= {str(w)} if isinstance(w, str) else set(w)
    return frozenset(out)
