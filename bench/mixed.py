"""`bench.api`'s mixed workload: list, detail, create and transition requests from 50 and 100
closed-loop clients, the real app (A) against the bare Litestar + asyncpg handlers (B) in the
same run. Latency percentiles over all requests, and A/B ratios.

The mix, request by request (wrk, one thread, its Lua builds each request):
  4 in 10  GET  /api/v1/subscribers?limit=50      the first page
  4 in 10  GET  /api/v1/subscribers/{id}          one of tenant A's subscribers, at random
  1 in 10  POST /api/v1/subscribers               a new subscriber (and its installation order)
  1 in 10  POST /api/v1/subscribers/{id}/suspend or /resume, on this run's own subscribers,
           taken in turn: suspended on the first pass over them, resumed on the second, ...
Each run (server × clients, warm-up included) toggles subscribers of its own, written before the
load, and names what it creates uniquely; created and toggled names sort after tenant A's first
page, so the page the other passes check never changes. Every answer must be 200 or 201 (a 409
would mean a transition was sent twice); any other counts as an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from rich.table import Table

TOGGLED = 400
"""Subscribers each run suspends and resumes in turn: one comes round again only after 399
other transitions, long after its previous one finished."""
SHARE = {"list": 4, "detail": 4, "create": 1, "transition": 1}


def lua(
    host: str, cookie: str, csrf: str, label: str, plan_id: str, ids: Sequence[str],
    toggled: Sequence[str], grid: Sequence[float],
) -> str:  # fmt: skip
    def table(values: Sequence[str]) -> str:
        return "{" + ", ".join(json.dumps(v) for v in values) + "}"

    return f"""
wrk.headers["Host"] = {json.dumps(host)}
wrk.headers["Cookie"] = {json.dumps(cookie)}
wrk.headers["X-CSRFToken"] = {json.dumps(csrf)}
wrk.headers["Accept"] = "application/json"
wrk.headers["Content-Type"] = "application/json"
local ids, toggled = {table(ids)}, {table(toggled)}
local plan, label = {json.dumps(plan_id)}, {json.dumps(label)}
local grid = {{{", ".join(str(p) for p in grid)}}}
local n, made, turned = 0, 0, 0
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) seen = 0; bad_status = 0; bad_length = 0; checked = 0; bad_rows = 0 end
function request()
  n = n + 1
  local slot = n % 10
  if slot < 4 then
    return wrk.format("GET", "/api/v1/subscribers?limit=50")
  elseif slot < 8 then
    return wrk.format("GET", "/api/v1/subscribers/" .. ids[math.random(#ids)])
  elseif slot == 8 then
    made = made + 1
    local body = string.format('{{"name": "Zz Mixed %s %07d",'
      .. ' "email": "mixed-%s-%07d@wisp-a.example.net", "phone": "+52 55 0000 0000",'
      .. ' "address": "Calle 1", "plan_id": "%s"}}', label, made, label, made, plan)
    return wrk.format("POST", "/api/v1/subscribers", nil, body)
  end
  local who = toggled[turned % #toggled + 1]
  local pass = math.floor(turned / #toggled)
  turned = turned + 1
  if pass % 2 == 0 then
    local path = "/api/v1/subscribers/" .. who .. "/suspend"
    return wrk.format("POST", path, nil, '{{"reason": "admin"}}')
  end
  return wrk.format("POST", "/api/v1/subscribers/" .. who .. "/resume", nil, "{{}}")
end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 and status ~= 201 then bad_status = bad_status + 1 end
end
function done(summary, latency, requests)
  local c = {{seen = 0, bad_status = 0, bad_length = 0, checked = 0, bad_rows = 0}}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + thread:get(k) end
  end
  local q = {{}}
  for i, p in ipairs(grid) do q[i] = string.format("%d", latency:percentile(p)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {{"duration_us": %d, "requests": %d, "connect": %d, "read": %d, "write": %d,'
    .. ' "status": %d, "timeout": %d, "seen": %d, "bad_status": %d, "bad_length": %d,'
    .. ' "checked": %d, "bad_rows": %d, "max_us": %d, "quantiles_us": [%s]}}\\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    c.seen, c.bad_status, c.bad_length, c.checked, c.bad_rows, latency.max,
    table.concat(q, ", ")))
end
"""


async def prepare(
    database_url: str, schema: str, labels: Sequence[str]
) -> tuple[str, list[str], dict[str, list[str]]]:
    """Tenant A's plan, the subscribers detail requests pick from, and TOGGLED active
    subscribers (with a CPE, as an active one must have) for each run label."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f'"{schema}"'})
    try:
        plan = str(await conn.fetchval("SELECT id FROM rate_plan ORDER BY name LIMIT 1"))
        ids = [
            str(r["id"])
            for r in await conn.fetch("SELECT id FROM subscriber WHERE name NOT LIKE 'Zz%'")
        ]
        now = dt.datetime.now(dt.UTC)
        toggled: dict[str, list[str]] = {}
        records = []
        for label in labels:
            toggled[label] = []
            for i in range(TOGGLED):
                sid = uuid.uuid4()
                toggled[label].append(str(sid))
                records.append((
                    sid, f"Zz Toggle {label} {i:04d}", f"toggle-{label}-{i:04d}@wisp-a.example.net",
                    uuid.UUID(plan), "02:" + ":".join(f"{b:02x}" for b in sid.bytes[:5]), now,
                    "active", now.date(), now, now, now,
                ))  # fmt: skip
        await conn.copy_records_to_table(
            "subscriber",
            columns=["id", "name", "email", "plan", "cpe_mac", "cpe_authenticated_at", "status",
                     "billing_start_date", "activated_at", "created_at", "updated_at"],
            records=records,
        )  # fmt: skip
        await conn.execute("ANALYZE subscriber")
        return plan, ids, toggled
    finally:
        await conn.close()


def check(servers: dict[str, Any], tenant: Any, ids: Sequence[str], toggled: Sequence[str]) -> str:
    """Before any load: both servers answer each kind of request alike (the same detail JSON;
    a create and a suspend/resume with the same statuses and fields)."""
    import httpx

    csrf = tenant.cookie.split("csrftoken=", 1)[1].split(";", 1)[0]
    headers = {"Host": tenant.host, "Cookie": tenant.cookie, "X-CSRFToken": csrf}
    answers: dict[str, list[Any]] = {}
    for (name, server), who in zip(servers.items(), toggled, strict=False):
        url = server.url + "/api/v1/subscribers"
        body = {"name": f"Zz Check {name}", "email": f"check-{name.lower()}@wisp-a.example.net",
                "plan_id": "", "phone": "+52 55 0000 0000", "address": "Calle 1"}  # fmt: skip
        detail = httpx.get(f"{url}/{ids[0]}", headers=headers, timeout=10)
        plan = detail.json()["plan_id"]
        created = httpx.post(url, headers=headers, json={**body, "plan_id": plan}, timeout=10)
        down = httpx.post(f"{url}/{who}/suspend", headers=headers, json={"reason": "admin"})
        up = httpx.post(f"{url}/{who}/resume", headers=headers, json={})
        answers[name] = [detail, created, down, up]
    a, b = answers["A"], answers["B"]
    if [r.status_code for r in a] != [200, 201, 200, 200] or [r.status_code for r in b] != [
        r.status_code for r in a
    ]:
        raise RuntimeError(f"mixed check: {[r.text[:200] for r in a + b]}")
    if a[0].json() != b[0].json() or any(
        sorted(x.json()) != sorted(y.json()) for x, y in zip(a[1:], b[1:], strict=True)
    ):
        raise RuntimeError("mixed check: the baseline's answers differ from the real app's")
    return "mixed: detail JSON equal; create, suspend, resume answer alike on A and B"


def run_all(
    servers: dict[str, Any],
    tenant: Any,
    database_url: str,
    workdir: Path,
    seconds: float,
    warmup: float,
    clients: Sequence[int],
    wrk: Callable[..., Any],
    grid: Sequence[float],
    notes: list[str],
) -> dict[tuple[str, int], Any]:
    """For each client count: a warm-up and a measured run per server, alternating which goes
    first. Returns {(server name, clients): wrk Run}."""
    labels = [f"{w}{s.lower()}{c}" for c in clients for s in servers for w in ("w", "m")]
    plan, ids, toggled = asyncio.run(prepare(database_url, tenant.schema, [*labels, "check"]))
    notes.append(check(servers, tenant, ids, toggled["check"]))
    csrf = tenant.cookie.split("csrftoken=", 1)[1].split(";", 1)[0]
    out = {}
    for i, c in enumerate(clients):
        order = list(servers) if i % 2 == 0 else list(reversed(servers))
        for name in order:
            for phase, length in (("w", warmup), ("m", seconds)):
                label = f"{phase}{name.lower()}{c}"
                script = workdir / f"mixed-{label}.lua"
                script.write_text(
                    lua(tenant.host, tenant.cookie, csrf, label, plan, ids, toggled[label], grid)
                )
                run = wrk(servers[name], script, length, c, database_url)
                if phase == "m":
                    out[(name, c)] = run
    return out


def report(console: Any, runs: dict[tuple[str, int], Any], merged: Callable[..., Any]) -> int:
    """The percentiles table and the A/B ratios; returns the number of bad answers."""
    mix = ", ".join(f"{k} {v}0 %" for k, v in SHARE.items())
    table = Table(title=f"Mixed workload ({mix}), closed loop, wrk 1 thread")
    for h in ("clients", "server", "req/s", "p50", "p95", "p99", "errors", "server CPU/req"):
        table.add_column(h, justify="left" if h == "server" else "right")
    ratios = []
    for c in sorted({c for _n, c in runs}):
        for name, label in (("A", "A: real app"), ("B", "B: bare Litestar + asyncpg")):
            m = merged([runs[(name, c)]])
            table.add_row(
                str(c), label, f"{m.rps:,.0f}", *(f"{m.quantile(p) * 1000:.1f} ms"
                for p in (50, 95, 99)), str(runs[(name, c)].errors),
                f"{m.per_request_ms('server_cpu_s'):.2f} ms",
            )  # fmt: skip
        a, b = merged([runs[("A", c)]]), merged([runs[("B", c)]])
        ratio = ", ".join(f"p{p} {a.quantile(p) / b.quantile(p):.2f}×" for p in (50, 95, 99))
        ratios.append(f"{c} clients: {ratio}, throughput A/B {a.rps / b.rps:.2f}")
    console.print(table)
    for line in ratios:
        console.print(f"mixed, A latency ÷ B latency — {line}")
    return sum(r.errors for r in runs.values())
