"""Schemathesis over the whole OpenAPI document, against the app served for real.

The app runs under uvicorn on a free 127.0.0.1 port with the test database and Redis; the
fuzzer (Schemathesis' own runner, `schemathesis run`) talks to one tenant's host
({slug}.localhost) while a second tenant exists, as each staff role (a signed-in session with
its CSRF token), as a manager's API token, as a portal subscriber, as a gateway (its secret),
and anonymously. Every answer must be no server error, a status the document lists for the
operation, with the documented content type and a body valid against the documented schema;
and no answer on the first tenant's host may carry an id of the second tenant.

Bounded and repeatable: derandomized generation (no example database, no cache) and
WISP_FUZZ_EXAMPLES (6) random examples per operation, about three in four made hostile by
`tests/support/fuzz_hooks.py` (NUL and control characters, numbers past every column's range,
overlong text). Schemathesis' coverage phase (boundary values, wrong types, missing fields) runs
once per operation, by its owner: the manager for staff routes, the subscriber for portal
ones, the gateway for its protocol, anonymous for open ones. Operations a principal may not call
are tried with two examples (their answer must be a documented 401/403). About 2-3 minutes on
2 cores; each principal's report is left in `.data/fuzz-<principal>.txt`.

Not fuzzed, on purpose (each would end the principal's own access mid-run, and has tests of
its own): signing out (`logout`, `logout-everywhere`) and the gateway's secret rotation (two
rotations retire the secret the fuzzer holds). The manager's staff routes are offered the id
of a sacrificial colleague, never a principal's own, so no role deactivates itself. Signup is
a base-host route: on the tenant host it is only seen answering 404.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.support.fuzz import World, build, served_app

SEED = 20260112
MAX_EXAMPLES = int(os.environ.get("WISP_FUZZ_EXAMPLES", "6"))
# Who fuzzes, and the role the document's `x-roles` must name for them to fuzz an operation
# fully (None: every role-restricted operation is tried lightly).
ROLE_OF = {
    "manager": "manager",
    "sales": "sales",
    "customer_service": "customer_service",
    "finance": "finance",
    "technical": "technical",
    "api_token": "manager",
    "subscriber": "subscriber",
    "anonymous": None,
    "gateway": None,
}
SELF_LOCKOUT = ("/api/v1/auth/logout", "/api/v1/auth/logout-everywhere", "/gateway/v1/rotate")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "no_foreign_tenant_ids",
)


@pytest.fixture(scope="session")
def fuzz_server() -> Iterator[str]:
    with served_app() as base:
        yield base


@pytest.fixture(scope="session")
async def fuzz_world(app: Any) -> World:
    return await build(app)


@pytest.fixture(scope="session")
def fuzz_document(fuzz_server: str, fuzz_world: World) -> dict[str, Any]:
    response = httpx.get(f"{fuzz_server}/schema/openapi.json", headers={"Host": fuzz_world.host})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def with_real_ids(document: dict[str, Any], world: World) -> dict[str, Any]:
    """The document, with this tenant's real ids offered beside random values for every
    parameter or field that takes one, so the fuzzer reaches past "not found" (a test-only
    copy: the served document is unchanged, and the values offered are valid under it)."""
    document = copy.deepcopy(document)

    def offer(schema: dict[str, Any], name: str) -> dict[str, Any]:
        values = world.ids.get(name)
        return {"anyOf": [{"type": "string", "enum": values}, schema]} if values else schema

    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["schema"] = offer(parameter["schema"], parameter["name"])
                if path == "/gateway/v1/state" and parameter["name"] == "wait":
                    # The long poll holds a request up to `wait` seconds; the fuzz does not wait.
                    parameter["schema"]["maximum"] = 0
    for schema in document["components"]["schemas"].values():
        for name, prop in schema.get("properties", {}).items():
            schema["properties"][name] = offer(prop, name)
    return document


def owner(path: str, operation: dict[str, Any]) -> str:
    """The one principal that runs the coverage phase (boundary values) on an operation: the
    manager for staff routes, the subscriber for portal ones, the gateway for its protocol,
    anonymous for open routes. Other principals fuzz it with random examples only."""
    roles = operation.get("x-roles")
    if roles is not None:
        return "manager" if "manager" in roles else "subscriber"
    if path.startswith("/gateway/") and operation["security"]:
        return "gateway"
    return "anonymous"


def plan(document: dict[str, Any], principal: str) -> dict[str, list[str]]:
    """Operation ids by how this principal fuzzes them: skipped, covered (every phase),
    fuzzed (random examples), light (refused to this principal: two examples)."""
    role = ROLE_OF[principal]
    out: dict[str, list[str]] = {"skipped": [], "covered": [], "fuzzed": [], "light": []}
    for path, item in document["paths"].items():
        for operation in item.values():
            roles = operation.get("x-roles")
            on_gateway = path.startswith("/gateway/")
            refused = (roles is not None and role not in roles) or (
                principal == "api_token" and {"apiToken": []} not in operation["security"]
            )
            if path in SELF_LOCKOUT or (principal == "gateway" and not on_gateway):
                kind = "skipped"
            elif refused or (on_gateway and principal != "gateway" and operation["security"]):
                kind = "light"
            elif owner(path, operation) == principal:
                kind = "covered"
            else:
                kind = "fuzzed"
            out[kind].append(operation["operationId"])
    return out


def toml_config(world: World, document: dict[str, Any], principal: str) -> str:
    """Schemathesis' configuration for one principal (JSON strings are TOML strings)."""
    kinds = plan(document, principal)
    q = json.dumps
    lines = [
        f"seed = {SEED}",
        "request-timeout = 20",
        'suppress-health-check = ["all"]',
        "[headers]",
        *(f"{q(k)} = {q(v)}" for k, v in world.headers[principal].items()),
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "deterministic = true",
        "with-security-parameters = false",
        'database = "none"',  # every run the same: no examples remembered from earlier runs
        "[cache]",
        "enabled = false",
        "[phases.stateful]",
        "enabled = false",
        "[checks]",
        "enabled = false",
        *(line for check in CHECKS for line in (f"[checks.{check}]", "enabled = true")),
    ]
    if kinds["skipped"]:
        lines += [
            "[[operations]]",
            f"include-operation-id = {q(kinds['skipped'])}",
            "enabled = false",
        ]
    if kinds["fuzzed"]:
        lines += [
            "[[operations]]",
            f"include-operation-id = {q(kinds['fuzzed'])}",
            "[operations.phases.coverage]",
            "enabled = false",
        ]
    if kinds["light"]:
        lines += [
            "[[operations]]",
            f"include-operation-id = {q(kinds['light'])}",
            "[operations.generation]",
            "max-examples = 2",
            "[operations.phases.coverage]",
            "enabled = false",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("principal", list(ROLE_OF))
def test_api_fuzz(
    principal: str,
    fuzz_server: str,
    fuzz_world: World,
    fuzz_document: dict[str, Any],
    tmp_path: Path,
) -> None:
    document = with_real_ids(fuzz_document, fuzz_world)
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    (tmp_path / "schemathesis.toml").write_text(toml_config(fuzz_world, document, principal))
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
        "WISP_FUZZ_FOREIGN_IDS": ",".join(sorted(fuzz_world.other_ids)),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    run = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "--no-color"),
            *("--config-file", str(tmp_path / "schemathesis.toml")),
            *("run", str(tmp_path / "openapi.json"), "--url", fuzz_server, "--workers", "1"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = ROOT / ".data" / f"fuzz-{principal}.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, f"{principal} (whole report: {report}):\n{run.stdout[-20000:]}"
