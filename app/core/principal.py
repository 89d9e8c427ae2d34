"""Who a request or job acts for, as every layer sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.core.roles import SUBSCRIBER

STAFF_KINDS = frozenset({"staff", "token"})
"""An API token acts with the staff role it was made for."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is signed in: a staff user (with a role) or, later, a subscriber."""

    kind: str
    user_id: str
    email: str
    name: str
    role: str
    language: str | None
    created_at: float
    session_hash: str = ""

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.user_id)

    @property
    def acting_role(self) -> str:
        """The role routes and actions check: staff's or a token's role, else `subscriber`."""
        return self.role if self.kind in STAFF_KINDS else SUBSCRIBER
