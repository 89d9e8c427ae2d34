from __future__ import annotations

from app.core.i18n import lazy
from app.core.roles import Role

ROLE_LABELS = {
    Role.MANAGER: lazy("Manager"),
    Role.SALES: lazy("Sales"),
    Role.CUSTOMER_SERVICE: lazy("Customer service"),
    Role.FINANCE: lazy("Finance"),
    Role.TECHNICAL: lazy("Technical"),
}

ALL_STAFF = tuple(Role)
