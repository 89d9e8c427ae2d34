"""Raw DDL that table classes cannot express (partial unique indexes, CHECK constraints,
append-only triggers), declared next to its tables and kept in step with the migrations.

A domain's `tables.py` lists its statements in `DDL`; migration files apply them in `RAW`
(after the file's Piccolo operations). Each statement creates one named object; a later
migration may drop it (`DROP INDEX name`, `ALTER TABLE t DROP CONSTRAINT name`,
`DROP TRIGGER name ON t`). Replaying every migration's `RAW` in order gives what the database
holds; `wisp migrate --check` fails when that differs from what the tables declare, and
`wisp makemigrations` writes the difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

_CREATE = [
    re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+)", re.I),
    re.compile(r"^ALTER\s+TABLE\s+\S+\s+ADD\s+CONSTRAINT\s+(\S+)", re.I),
    re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?TRIGGER\s+(\S+)", re.I),
    re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([^\s(]+)", re.I),
]
_DROP = [
    re.compile(r"^DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?(\S+)", re.I),
    re.compile(r"^ALTER\s+TABLE\s+\S+\s+DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(\S+)", re.I),
    re.compile(r"^DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?(\S+)", re.I),
    re.compile(r"^DROP\s+FUNCTION\s+(?:IF\s+EXISTS\s+)?([^\s(]+)", re.I),
]


def normalise(statement: str) -> str:
    return " ".join(statement.split())


def _match(patterns: list[re.Pattern[str]], statement: str) -> str | None:
    text = normalise(statement)
    for pattern in patterns:
        found = pattern.match(text)
        if found:
            return found.group(1).strip('"').lower()
    return None


def object_name(statement: str) -> str:
    """The object a declared statement creates; a statement we cannot name is refused."""
    name = _match(_CREATE, statement)
    if name is None:
        raise ValueError(f"declare one CREATE INDEX / ADD CONSTRAINT / TRIGGER each: {statement}")
    return name


def declared(statements: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for statement in statements:
        name = object_name(statement)
        if name in out:
            raise ValueError(f"two statements create {name}")
        out[name] = normalise(statement)
    return out


def applied(modules: Iterable[ModuleType]) -> dict[str, str]:
    """What the migration files' `RAW` lists leave in place, replayed in order."""
    state: dict[str, str] = {}
    for module in modules:
        for statement in getattr(module, "RAW", ()):
            dropped = _match(_DROP, statement)
            if dropped is not None:
                state.pop(dropped, None)
            else:
                state[object_name(statement)] = normalise(statement)
    return state


@dataclass
class RawDrift:
    missing: dict[str, str] = field(default_factory=dict)
    """Declared, not migrated: to create."""
    extra: list[str] = field(default_factory=list)
    """Migrated, no longer declared: to drop."""
    changed: dict[str, str] = field(default_factory=dict)
    """Declared differently from what was migrated: to drop and create again."""

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.changed)

    def lines(self) -> list[str]:
        return (
            [f"missing: {s}" for s in self.missing.values()]
            + [f"no longer declared: {n}" for n in self.extra]
            + [f"changed: {s}" for s in self.changed.values()]
        )


def drift(declared_now: dict[str, str], migrated: dict[str, str]) -> RawDrift:
    out = RawDrift()
    for name, statement in declared_now.items():
        if name not in migrated:
            out.missing[name] = statement
        elif migrated[name] != statement:
            out.changed[name] = statement
    out.extra = sorted(set(migrated) - set(declared_now))
    return out


def _drop(name: str, statement: str) -> str:
    text = normalise(statement).upper()
    if "INDEX" in text.split(" ON ")[0]:
        return f"DROP INDEX {name}"
    if text.startswith("ALTER TABLE"):
        table = normalise(statement).split()[2]
        return f"ALTER TABLE {table} DROP CONSTRAINT {name}"
    if "TRIGGER" in text.split(" ON ")[0]:
        table = re.split(r"\s+ON\s+", normalise(statement), flags=re.I)[1].split()[0]
        return f"DROP TRIGGER {name} ON {table}"
    return f"DROP FUNCTION {name}"


def statements_for(found: RawDrift, migrated: dict[str, str]) -> list[str]:
    """The `RAW` list of a migration that removes the drift."""
    raw = [_drop(name, migrated[name]) for name in found.extra]
    raw += [_drop(name, migrated[name]) for name in found.changed]
    raw += list(found.changed.values()) + list(found.missing.values())
    return raw
