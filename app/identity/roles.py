from __future__ import annotations

from enum import StrEnum

from app.core.i18n import lazy


class Role(StrEnum):
    MANAGER = "manager"
    SALES = "sales"
    CUSTOMER_SERVICE = "customer_service"
    FINANCE = "finance"
    TECHNICAL = "technical"


ROLE_LABELS = {
    Role.MANAGER: lazy("Manager"),
    Role.SALES: lazy("Sales"),
    Role.CUSTOMER_SERVICE: lazy("Customer service"),
    Role.FINANCE: lazy("Finance"),
    Role.TECHNICAL: lazy("Technical"),
}

ALL_STAFF = tuple(Role)
