"""Finding what the domains declare, so that adding a domain edits no central list.

A domain is a package under `app/` (other than `core` and `web`). By convention it may have:
- `tables.py`: its tenant table classes (every Piccolo table in the module's namespace that is
  not in the `public` schema); the tenant migration track is built from them;
- `controllers.py`: `HANDLERS`, its Litestar routers, controllers and handlers, each handler
  declaring the roles that may call it;
- `tasks.py`: its Dramatiq actors and periodic jobs (`tenants.jobs`).

Modules are imported by name, so the core layer never imports a domain statically.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, TypeGuard

from piccolo.table import Table

from app.core import audit
from app.core.audit import AuditEvent
from app.core.idempotency import IdempotencyRecord

APP = Path(__file__).resolve().parent.parent
NOT_DOMAINS = frozenset({"core", "web"})
CORE_TABLES: list[type[Table]] = [AuditEvent, IdempotencyRecord]


@functools.cache
def domains() -> tuple[str, ...]:
    return tuple(
        sorted(
            m.name
            for m in pkgutil.iter_modules([str(APP)])
            if m.ispkg and m.name not in NOT_DOMAINS
        )
    )


def domain_modules(kind: str) -> list[ModuleType]:
    """`app.<domain>.<kind>` for every domain that has one, in domain order."""
    found = []
    for domain in domains():
        name = f"app.{domain}.{kind}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def _nested_tables() -> list[ModuleType]:
    """`tables` modules of a domain's sub-packages too (`app.identity.passkeys.tables`)."""
    found = []
    for domain in domains():
        package = importlib.import_module(f"app.{domain}")
        for info in pkgutil.walk_packages(package.__path__, f"app.{domain}."):
            if info.name.count(".") > 2 and info.name.endswith(".tables"):
                found.append(importlib.import_module(info.name))
    return found


def _is_table(value: object) -> TypeGuard[type[Table]]:
    return isinstance(value, type) and issubclass(value, Table) and value is not Table


def tenant_tables() -> list[type[Table]]:
    seen: dict[str, type[Table]] = {t._meta.tablename: t for t in CORE_TABLES}
    for module in [*domain_modules("tables"), *_nested_tables()]:
        for value in vars(module).values():
            if _is_table(value) and value._meta.schema is None:
                seen.setdefault(value._meta.tablename, value)
    return list(seen.values())


def public_tables() -> list[type[Table]]:
    """Registry tables a domain keeps in `public` (its `registry.py`), such as the gateways'
    credential lookups that find a tenant from a secret."""
    found: list[type[Table]] = []
    for module in domain_modules("registry"):
        for value in vars(module).values():
            if _is_table(value) and value._meta.schema == "public" and value not in found:
                found.append(value)
    return found


def public_ddl() -> list[str]:
    """Raw DDL the domains keep in `public` (their `registry.py`'s `DDL`)."""
    return [s for module in domain_modules("registry") for s in getattr(module, "DDL", ())]


def tenant_ddl() -> list[str]:
    """Every `DDL` statement declared next to the tenant tables (`tenants/ddl.py`)."""
    statements: list[str] = list(audit.DDL)
    for module in [*domain_modules("tables"), *_nested_tables()]:
        statements.extend(getattr(module, "DDL", ()))
    return statements


def route_handlers() -> list[Any]:
    handlers: list[Any] = []
    for module in domain_modules("controllers"):
        handlers.extend(module.HANDLERS)
    return handlers


def load_tasks() -> list[ModuleType]:
    """Import every domain's tasks module, declaring its actors and periodic jobs."""
    return domain_modules("tasks")
