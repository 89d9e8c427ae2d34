"""The structure the code promises (docs/ARCHITECTURE.md), checked on the import graph.

`make lint` runs import-linter for the layer contract (pyproject.toml); these tests add what
its contracts cannot say: no module-level import cycles anywhere, domains that own their
tables, and no central lists to edit when a domain is added.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import grimp
import pytest

PACKAGES = ("app", "tenants", "workers", "devtools")


@functools.cache
def graph() -> Any:
    return grimp.build_graph(*PACKAGES)


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 3 or parts[1] in ("core", "web"):
        return None
    return parts[1]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    g = graph()
    edges = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    # A package's __init__ importing its own modules is not a cycle anyone can trip on.
    for module, imported in edges.items():
        imported.difference_update({i for i in imported if module.startswith(i + ".")})
    assert _cycles(edges) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_domain_imports_another_domains_tables() -> None:
    """A domain reads another's rows through its queries/access and changes them through its
    actions. Only `tables` modules may import other tables: foreign-key declarations."""
    wrong = []
    for imp in graph().find_matching_direct_imports(import_expression="app.** -> app.**"):
        importer, imported = imp["importer"], imp["imported"]
        if not imported.endswith(".tables") or importer.endswith(".tables"):
            continue
        if domain_of(importer) and domain_of(imported) != domain_of(importer):
            wrong.append(f"{importer} -> {imported} (line {imp.get('line_number', '?')})")
    assert not wrong, "\n".join(wrong)


def test_nothing_below_the_processes_imports_workers_or_devtools() -> None:
    g = graph()
    for top in ("workers", "devtools"):
        importers = {
            m
            for m in g.find_modules_that_directly_import(top)
            | {i for t in g.find_children(top) for i in g.find_modules_that_directly_import(t)}
            if not m.startswith((top, "app.cli"))
        }
        assert not importers, f"{top} imported by {importers}"


def test_every_domain_is_found_without_a_central_list() -> None:
    """Tables, routes and jobs come from the domains' own modules (app.core.discovery): every
    table class, every controller module and every actor in app/ is picked up."""
    from piccolo.table import Table

    from app.core import discovery
    from app.core.jobs import broker
    from tenants.jobs import PERIODIC

    discovery.load_tasks()
    tables = {t._meta.tablename for t in discovery.tenant_tables()}
    for name, module in list(sys.modules.items()):
        if domain_of(name) is None or not name.endswith(".tables"):
            continue
        for value in vars(module).values():
            is_table = isinstance(value, type) and issubclass(value, Table) and value is not Table
            if is_table and value._meta.schema is None:
                assert value._meta.tablename in tables, name
    names = set(broker.actors)
    assert {"billing.run_billing", "gateways.check_gateways", "signup.send_welcome"} <= names
    assert {p.actor_name for p in PERIODIC.values()} <= names
    handlers = discovery.route_handlers()
    assert len(handlers) >= len(discovery.domain_modules("controllers"))


@pytest.mark.parametrize("domain", ["subscribers", "workorders", "gateways", "network", "plans"])
def test_domains_have_the_skeleton(domain: str) -> None:
    """The same files in each main domain, so a newcomer knows where to look."""
    from app.core.discovery import APP

    for part in ("tables", "schemas", "actions", "controllers"):
        assert (APP / domain / f"{part}.py").exists(), f"app/{domain}/{part}.py"
