"""A tenant-scoped API read under load: the real app against a bare Litestar + asyncpg handler.

Run from the repository root:

    .venv/bin/python -m bench.api [--duration 15] [--rounds 3] [--connections 100] [--keep]

The database named by DATABASE_URL (default `wisp_bench_api` on the local server) is dropped and
recreated at start and dropped at the end; its name must contain "bench". Redis is
REDIS_URL (default db 8); the welcome-email jobs of the two signups go to the namespace
`wisp-bench-api`, whose keys are deleted, with the two tenants' session and throttle keys, at the
end. Both servers are uvicorn processes on 127.0.0.1; the load comes from `wrk` (Debian package
`wrk`), in its own process. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from bench import mixed
from bench.tenancy import PASSWORD, bench_database, quote, recreate_database, run_cli_migrate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/wisp_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
QUEUE_NAMESPACE = "wisp-bench-api"
RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0
PAGE = 50
PATH = f"/api/v1/subscribers?limit={PAGE}"
POOL_MAX = "10"  # the app's default DB_POOL_MAX; the baseline gets the same
TENANTS = {"a": "bench-api-a", "b": "bench-api-b"}
MARKERS = {"a": "@wisp-a.example.net", "b": "@wisp-b.example.net"}
NAMES = ("Ana Pérez", "José Gómez", "María López", "Luis Díaz", "Carmen Ruiz", "Pedro Soto")
CHECK_EVERY = 10  # wrk checks status and length of every response, the rows of every 10th
# Percentiles wrk reports per run: fine enough that merging runs is exact to ~0.1 point.
GRID = [round(i * 0.1, 1) for i in range(1, 991)] + [round(99 + i * 0.01, 2) for i in range(1, 101)]

console = Console(file=sys.stdout)
if not console.is_terminal:
    console.width = 120


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/bold green]" if ok else "[bold red]FAIL[/bold red]"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# Servers ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])


TICK = 1 / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    target: str  # module:attribute for uvicorn
    env: dict[str, str]
    log: Path
    app_name: str  # application_name of its PostgreSQL connections
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                r = httpx.get(self.url + "/health", headers={"Host": "localhost"}, timeout=2)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /health within 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


# Setup: tenants, rows, sessions -------------------------------------------------------------------


@dataclass
class Tenant:
    key: str
    slug: str
    schema: str = ""
    id: str = ""
    cookie: str = ""  # what a browser sends: session and CSRF cookies

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost"


def sign_up(server: Server, tenant: Tenant) -> None:
    r = httpx.post(
        server.url + "/api/v1/signup",
        headers={"Host": "localhost"},
        json={
            "company_name": f"Bench WISP {tenant.key.upper()}",
            "slug": tenant.slug,
            "email": f"owner@{tenant.slug}.example.com",
            "password": PASSWORD,
            "language": "en",
        },
        timeout=30,
    )
    if r.status_code != 201:
        raise RuntimeError(f"signup of {tenant.slug}: {r.status_code} {r.text}")


def sign_in(server: Server, tenant: Tenant) -> None:
    """As the PWA does: any GET hands out the CSRF cookie, then the login sets the session."""
    headers = {"Host": tenant.host}
    first = httpx.get(server.url + "/api/v1/auth/me", headers=headers, timeout=10)
    csrf = first.cookies.get("csrftoken")
    if not csrf:
        raise RuntimeError("no csrftoken cookie on the first GET")
    r = httpx.post(
        server.url + "/api/v1/auth/login",
        headers={**headers, "X-CSRFToken": csrf, "Cookie": f"csrftoken={csrf}"},
        json={"email": f"owner@{tenant.slug}.example.com", "password": PASSWORD},
        timeout=30,
    )
    session = r.cookies.get("wisp_session")
    if r.status_code != 200 or not session:
        raise RuntimeError(f"login on {tenant.slug}: {r.status_code} {r.text}")
    tenant.cookie = f"wisp_session={session}; csrftoken={csrf}"


async def fill(database_url: str, tenants: dict[str, Tenant], count: int) -> list[str]:
    """Plans and subscribers written straight into the schemas; the page tenant A must get."""
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(database_url)
    try:
        for t in tenants.values():
            row = await conn.fetchrow(
                "SELECT id, schema_name FROM public.tenant WHERE slug = $1", t.slug
            )
            t.id, t.schema = str(row["id"]), row["schema_name"]
            plans = [uuid.uuid4() for _ in range(3)]
            await conn.executemany(
                f"INSERT INTO {quote(t.schema)}.rate_plan (id, name, download_kbps, upload_kbps,"
                " monthly_price, currency, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, 'USD', $6, $6)",
                [
                    (pid, f"Plan {i}", 10_000 * (i + 1), 2_000 * (i + 1), Decimal(25 + 15 * i), now)
                    for i, pid in enumerate(plans)
                ],
            )
            # Tenant B's names sort first: a page leaking across tenants would start with them.
            n = count if t.key == "a" else 60
            records = []
            for i in range(n):
                sid = uuid.uuid4()
                located = rng.random() < 0.6
                start = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(90))
                records.append((
                    sid,
                    f"{NAMES[i % len(NAMES)]} {i:05d}" if t.key == "a" else f"Aaron B {i:03d}",
                    f"s{i:05d}{MARKERS[t.key]}",
                    f"+52 55 {rng.randrange(10**8):08d}",
                    f"Calle {i % 97 + 1} #{i}, Colonia Centro",
                    Decimal(f"19.{rng.randrange(10**6):06d}") if located else None,
                    Decimal(f"-99.{rng.randrange(10**6):06d}") if located else None,
                    rng.choice([None, "es", "en"]),
                    plans[i % 3],
                    "02:" + ":".join(f"{b:02x}" for b in sid.bytes[:5]),
                    now,
                    "active",
                    start,
                    dt.datetime.combine(start, dt.time(15), dt.UTC),
                    f"EXT-{i:05d}" if i % 4 == 0 else None,
                    now,
                    now,
                ))  # fmt: skip
            await conn.copy_records_to_table(
                "subscriber",
                schema_name=t.schema,
                columns=["id", "name", "email", "phone", "address", "latitude", "longitude",
                         "language", "plan", "cpe_mac", "cpe_authenticated_at", "status",
                         "billing_start_date", "activated_at", "external_id", "created_at",
                         "updated_at"],
                records=records,
            )  # fmt: skip
            await conn.execute(f"ANALYZE {quote(t.schema)}.subscriber")
        expected = await conn.fetch(
            f"SELECT id FROM {quote(tenants['a'].schema)}.subscriber"
            " ORDER BY lower(name), id LIMIT $1",
            PAGE,
        )
        return [str(r["id"]) for r in expected]
    finally:
        await conn.close()


# Checks -------------------------------------------------------------------------------------------


def get(server: Server, tenant: Tenant, cookie: str | None = None) -> httpx.Response:
    headers = {"Host": tenant.host, "Cookie": tenant.cookie if cookie is None else cookie}
    return httpx.get(server.url + PATH, headers=headers, timeout=10)


def check_page(response: httpx.Response, key: str, expected: Sequence[str] | None) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"expected 200, got {response.status_code}: {response.text[:300]}")
    items = response.json()["items"]
    wrong = [i["email"] for i in items if not i["email"].endswith(MARKERS[key])]
    if len(items) != PAGE or wrong:
        raise RuntimeError(f"{len(items)} rows, {len(wrong)} of another tenant: {wrong[:3]}")
    if expected is not None and [i["id"] for i in items] != list(expected):
        raise RuntimeError("the page is not the first 50 subscribers by name")


def check_servers(
    real: Server, bare: Server, tenants: dict[str, Tenant], expected: list[str]
) -> list[str]:
    """The same page from both servers, and the isolation the real one must keep."""
    a, b = tenants["a"], tenants["b"]
    ra, rb = get(real, a), get(bare, a)
    check_page(ra, "a", expected)
    check_page(rb, "a", expected)
    notes = []
    if ra.json() != rb.json():
        raise RuntimeError("the baseline's JSON differs from the real app's")
    notes.append(
        "baseline JSON equal to the real app's"
        + (" (byte for byte)" if ra.content == rb.content else " (parsed; bytes differ)")
    )
    foreign = get(real, b, cookie=a.cookie)  # A's session on B's host
    if foreign.status_code != 401:
        raise RuntimeError(f"A's session on B's host answered {foreign.status_code}")
    if get(real, a, cookie="").status_code != 401:
        raise RuntimeError("the page answered without a session")
    check_page(get(real, b), "b", None)
    notes.append("A's session on B's host → 401; no session → 401; B's page holds only B's rows")
    return notes


# Load ---------------------------------------------------------------------------------------------


def lua_escape(text: str) -> str:
    return re.sub(r"([^A-Za-z0-9])", r"%\1", text)


def wrk_script(
    tenant: Tenant, body_length: int, first_id: str, last_id: str, think_ms: int = 0
) -> str:
    """wrk's Lua: headers, a check of every response, percentiles out; optional think time."""
    pause = (
        f"function delay() return math.random({think_ms // 2}, {think_ms * 3 // 2}) end"
        if think_ms
        else ""
    )
    return f"""
{pause}
wrk.method = "GET"
wrk.headers["Host"] = {json.dumps(tenant.host)}
wrk.headers["Cookie"] = {json.dumps(tenant.cookie)}
wrk.headers["Accept"] = "application/json"
local expected_length, page, every = {body_length}, {PAGE}, {CHECK_EVERY}
local mine, theirs = "{lua_escape(MARKERS["a"])}", "{lua_escape(MARKERS["b"])}"
local first_id, last_id = "{first_id}", "{last_id}"
local grid = {{{", ".join(str(p) for p in GRID)}}}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) seen = 0; bad_status = 0; bad_length = 0; checked = 0; bad_rows = 0 end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad_status = bad_status + 1; return end
  if #body ~= expected_length then bad_length = bad_length + 1; return end
  if seen % every == 0 then
    checked = checked + 1
    local _, m = string.gsub(body, mine, "")
    local _, t = string.gsub(body, theirs, "")
    if m ~= page or t ~= 0 or not string.find(body, first_id, 1, true)
       or not string.find(body, last_id, 1, true) then bad_rows = bad_rows + 1 end
  end
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


@dataclass
class Run:
    server: str
    seconds: float
    requests: int
    errors: int
    checked: int
    quantiles_us: list[float]
    max_us: float
    server_cpu_s: float
    db_cpu_s: float
    loadgen_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def backend_pids(database_url: str, app_name: str) -> list[int]:
    async def query() -> list[int]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = $1",
                app_name,
            )
            return [r["pid"] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(query())


def wrk(server: Server, script: Path, seconds: float, connections: int, database_url: str) -> Run:
    """One closed-loop wrk run; CPU of the server, its PostgreSQL backends and wrk itself."""
    db_before = {p: cpu_ticks(p) for p in backend_pids(database_url, server.app_name)}
    server_before = cpu_ticks(server.pid)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
             "-s", str(script), server.url + PATH],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    server_cpu = (cpu_ticks(server.pid) - server_before) * TICK
    db_after = {p: cpu_ticks(p) for p in backend_pids(database_url, server.app_name)}
    db_cpu = sum(t - db_before.get(p, 0) for p, t in db_after.items()) * TICK
    line = next((x for x in text.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text[-2000:]}")
    r = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(r[k] for k in ("connect", "read", "write", "timeout", "bad_status"))
    errors += r["bad_length"] + r["bad_rows"]
    return Run(
        server=server.name,
        seconds=r["duration_us"] / 1e6,
        requests=r["requests"],
        errors=errors,
        checked=r["checked"],
        quantiles_us=[float(x) for x in r["quantiles_us"]],
        max_us=float(r["max_us"]),
        server_cpu_s=server_cpu,
        db_cpu_s=db_cpu,
        loadgen_cpu_s=usage.ru_utime + usage.ru_stime,
    )


@dataclass
class Merged:
    runs: list[Run]

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def rps(self) -> float:
        return self.requests / sum(r.seconds for r in self.runs)

    def quantile(self, p: float) -> float:
        """Percentile p (0-100) of all runs' latencies, in seconds, from each run's grid."""
        points: list[tuple[float, float]] = []
        previous = 0.0
        steps = [b - a for a, b in zip([0.0, *GRID], GRID, strict=False)]
        for run in self.runs:
            for step, value in zip(steps, run.quantiles_us, strict=True):
                points.append((value, run.requests * step / 100))
        points.sort()
        total = sum(w for _, w in points)
        for value, weight in points:
            previous += weight
            if previous >= total * p / 100 - 1e-9:
                return value / 1e6
        return points[-1][0] / 1e6

    def per_request_ms(self, attr: str) -> float:
        return sum(float(getattr(r, attr)) for r in self.runs) / self.requests * 1000


# Sequential requests and the traced server --------------------------------------------------------


def sequential(server: Server, tenant: Tenant, count: int) -> tuple[list[float], float]:
    """One client, one request at a time, keep-alive: latency without queueing, and the
    server's CPU seconds per request."""
    samples = []
    ticks = cpu_ticks(server.pid)
    headers = {"Host": tenant.host, "Cookie": tenant.cookie}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for _ in range(count):
            started = time.perf_counter()
            r = client.get(PATH)
            samples.append(time.perf_counter() - started)
            client.cookies.clear()
            if r.status_code != 200:
                raise RuntimeError(f"{server.name}: {r.status_code} {r.text[:200]}")
    return samples, (cpu_ticks(server.pid) - ticks) * TICK / count


@dataclass
class Trace:
    records: list[dict[str, float]]
    statements: dict[str, int]

    def mean(self, label: str) -> float:
        return statistics.fmean(float(r.get(label, 0.0)) for r in self.records)

    def median(self, label: str) -> float:
        return float(statistics.median(float(r.get(label, 0.0)) for r in self.records))

    def labels(self) -> list[str]:
        """Phase names in first-seen order (not the counters, CPU twins or process CPU)."""
        seen = Counter(k for r in self.records for k in r if not k.startswith(("#", "cpu:")))
        seen.pop("process CPU", None)
        return list(seen)


def traced_pass(server: Server, tenant: Tenant, count: int) -> Trace:
    sequential(server, tenant, 30)  # warm: first requests import, prepare, open connections
    httpx.get(server.url + "/__bench__/reset", timeout=10)
    sequential(server, tenant, count)
    data = httpx.get(server.url + "/__bench__/trace", timeout=10).json()
    return Trace(records=data["records"], statements=data["statements"])


def subscriber_sql(trace: Trace) -> str:
    """The statement the real route runs, as captured; the baseline runs exactly this."""
    found = {q: n for q, n in trace.statements.items() if "from subscriber" in q.lower()}
    if len(found) != 1:
        raise RuntimeError(f"expected one subscriber statement, saw {list(found)}")
    sql, n = next(iter(found.items()))
    if n != len(trace.records):
        raise RuntimeError(f"{n} subscriber statements for {len(trace.records)} requests")
    return sql


# CPU profile --------------------------------------------------------------------------------------

# First match from the innermost frame outwards; stdlib frames without a rule are transparent.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("request log line (logging, JSON formatter)", ("/logging/", "/app/core/logs.py")),
    ("JSON encoding (msgspec)", ("encode_json (", "/msgspec/")),
    ("Redis client (session GET + EXPIRE)", ("/redis/",)),
    ("asyncpg (protocol, records, pool)", ("/asyncpg/",)),
    ("Piccolo transaction wrapper", ("/piccolo/",)),
    ("rows → SubscriberOut, handler (app)", ("/app/subscribers/", "/app/core/timeutil.py")),
    ("tenant_scope (tenants/scope.py)", ("/tenants/scope.py",)),
    ("session code (sessions.py)", ("/app/identity/sessions.py",)),
    ("tenant resolution (hosts, registry)", ("/tenants/hosts.py", "/tenants/registry.py")),
    ("context middleware (+ i18n)", ("/app/web/middleware.py", "/app/core/i18n.py")),
    ("permission guard, deps", ("/app/identity/permissions.py", "/tenants/context.py")),
    ("CSRF middleware", ("/litestar/middleware/csrf.py",)),
    ("Litestar (routing, DI, params, response)", ("/litestar/",)),
    ("uvicorn + httptools (HTTP, transport)", ("/uvicorn/", "httptools")),
    # The frames that drive callbacks: a stack whose innermost claimed frame is one of these is
    # the loop's own work (uvloop's C code: polling, reading sockets, protocol callbacks in C).
    # Other asyncio frames (streams, futures) match nothing and count for whoever called them.
    (
        "event loop (uvloop in C, callbacks)",
        ("/asyncio/runners.py", "/asyncio/base_events.py", "/asyncio/events.py", "uvloop"),
    ),
]
INCLUSIVE: list[tuple[str, str, str]] = [
    (
        "ContextMiddleware.__call__ (all of Litestar's work below it)",
        "__call__",
        "/app/web/middleware.py",
    ),
    ("  hosts.resolve (tenant)", "resolve", "/tenants/hosts.py"),
    ("  sessions.load", "load", "/app/identity/sessions.py"),
    ("  CSRF middleware", "__call__", "/litestar/middleware/csrf.py"),
    ("    authorize (permission guard)", "authorize", "/app/identity/permissions.py"),
    ("    list_subscribers (controller)", "list_subscribers", "/app/subscribers/controllers.py"),
    ("      tenant_scope", "tenant_scope", "/tenants/scope.py"),
    ("      rows → SubscriberOut", "subscriber_out", "/app/subscribers/"),
    ("    encode_json (msgspec)", "encode_json", "/litestar/"),
    ("  request log line (Logger.info)", "info", "/logging/"),
    ("uvicorn httptools protocol callbacks (parse, write)", "data_received", "/uvicorn/"),
]


@dataclass
class Profile:
    samples: int = 0
    possible: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    components: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    leaves: Counter[str] = field(default_factory=Counter)


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def _frame(raw: str) -> str:
    # py-spy writes site-packages paths relative ("asyncpg/pool.py"); a leading slash lets the
    # rules match a directory name exactly ("/asyncpg/") whichever way the path was written.
    func, sep, rest = raw.partition(" (")
    return f"{func} (/{rest.lstrip('/')}" if sep else raw


def _calls(frame: str, function: str, path: str) -> bool:
    func = frame.partition(" (")[0]
    return (func == function or func.endswith("." + function)) and path in frame


def component_of(frames: Sequence[str]) -> str:
    """The component of the innermost frame a rule claims (a Redis write that ends in asyncio's
    StreamWriter is the Redis client's work: streams.py matches no rule)."""
    for frame in reversed(frames):
        match = next((n for n, keys in COMPONENTS if any(k in frame for k in keys)), None)
        if match:
            return match
    return "other (stdlib, C)"


def parse_profile(text: str, rate: int, seconds: float) -> Profile:
    """Collapsed stacks from `py-spy record --threads --format raw`, root first."""
    profile = Profile(possible=int(rate * seconds))
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *raw_frames = stack.split(";")
        frames = [_frame(f) for f in raw_frames]
        name = thread.partition(": ")[2] or thread
        profile.threads[name] += count
        if not frames or name != "MainThread":
            # Other threads are anyio's pool running the sync guard; they are counted per
            # thread above, and the breakdown below is the event loop's (the bottleneck).
            continue
        profile.samples += count
        profile.leaves[frames[-1]] += count
        profile.components[component_of(frames)] += count
        for label, function, path in INCLUSIVE:
            if any(_calls(f, function, path) for f in frames):
                profile.inclusive[label] += count
    return profile


def profile_server(
    server: Server,
    script: Path,
    seconds: float,
    connections: int,
    workdir: Path,
    output_path: Path | None,
) -> Profile | None:
    py_spy = find_py_spy()
    if py_spy is None:
        console.print("[yellow]py-spy not found (pip install py-spy): no CPU profile[/yellow]")
        return None
    rate, output = 200, output_path or workdir / "profile.txt"
    load = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds + 2:g}s", "--timeout", "5s",
         "-s", str(script), server.url + PATH],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1)
        done = subprocess.run(
            [py_spy, "record", "--pid", str(server.pid), "--rate", str(rate), "--duration",
             f"{seconds:g}", "--nonblocking", "--threads", "--gil", "--format", "raw",
             "--output", str(output)],
            capture_output=True, text=True, timeout=seconds + 30,
        )  # fmt: skip
    finally:
        load.wait(timeout=seconds + 30)
    if done.returncode != 0 or not output.exists():
        console.print(f"[yellow]py-spy failed: {done.stderr[-500:]}[/yellow]")
        return None
    return parse_profile(output.read_text(), rate, seconds)


# Orchestration ------------------------------------------------------------------------------------


@dataclass
class Results:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"A": [], "B": []})
    paced: dict[str, Run] = field(default_factory=dict)
    sequential: dict[str, tuple[list[float], float]] = field(default_factory=dict)
    trace: Trace | None = None
    sql: str = ""
    notes: list[str] = field(default_factory=list)
    profile: Profile | None = None
    mixed: dict[tuple[str, int], Run] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def server_env(database_url: str) -> dict[str, str]:
    env = os.environ.copy()
    env.pop("WISP_DEV_MAIL_DIR", None)
    env.update(DATABASE_URL=database_url, BASE_DOMAIN="localhost", DB_POOL_MAX=POOL_MAX)
    return env


def measure(
    args: argparse.Namespace,
    database_url: str,
    workdir: Path,
    results: Results,
    servers: list[Server],
) -> None:
    """Every server it starts goes into `servers` first, so the caller stops it on any error."""
    env = server_env(database_url)
    real = Server("A", "app.asgi:app", env, workdir / "real.log", "wisp")
    traced = Server("T", "bench._traced_app:app", env, workdir / "traced.log", "wisp")
    servers += [real, traced]
    tenants = {k: Tenant(k, slug) for k, slug in TENANTS.items()}
    with console.status("setup: server A, two signups, rows, sign-in (untimed)"):
        real.start()
        for t in tenants.values():
            sign_up(real, t)
        expected = asyncio.run(fill(database_url, tenants, args.subscribers))
        for t in tenants.values():
            sign_in(real, t)
    with console.status("traced pass: the real app with a stopwatch per phase, one client"):
        traced.start()
        results.trace = traced_pass(traced, tenants["a"], args.sequential)
        traced.stop()
        results.sql = subscriber_sql(results.trace)
    bare_env = {
        **env,
        "BENCH_DATABASE_URL": database_url,
        "BENCH_SCHEMA": tenants["a"].schema,
        "BENCH_SQL": results.sql,
        "BENCH_POOL_MAX": POOL_MAX,
    }
    bare = Server("B", "bench._bare_app:app", bare_env, workdir / "bare.log", "wisp-bench-bare")
    servers.append(bare)
    bare.start()
    results.notes += check_servers(real, bare, tenants, expected)
    length = len(get(real, tenants["a"]).content)
    script = workdir / "page.lua"
    script.write_text(wrk_script(tenants["a"], length, expected[0], expected[-1]))

    with console.status("one client at a time (no queueing)"):
        for s in (real, bare):
            results.sequential[s.name] = sequential(s, tenants["a"], args.sequential)
    results.load_before = os.getloadavg()
    by_name = {"A": real, "B": bare}
    slice_s = args.duration / args.rounds
    with console.status(f"warm-up: {args.warmup:g} s each"):
        for s in (real, bare):
            wrk(s, script, args.warmup, args.connections, database_url)
    for i in range(args.rounds):
        order = "AB" if i % 2 == 0 else "BA"  # alternate, so drift in load hits both alike
        for name in order:
            with console.status(
                f"round {i + 1}/{args.rounds}: server {name}, {args.connections} connections,"
                f" {slice_s:g} s"
            ):
                results.runs[name].append(
                    wrk(by_name[name], script, slice_s, args.connections, database_url)
                )
    results.load_after = os.getloadavg()
    if args.paced > 0:
        paced = workdir / "paced.lua"
        paced.write_text(wrk_script(tenants["a"], length, expected[0], expected[-1], args.think_ms))
        for name in "AB":
            with console.status(
                f"paced: server {name}, {args.connections} clients thinking ~{args.think_ms} ms,"
                f" {args.paced:g} s"
            ):
                results.paced[name] = wrk(
                    by_name[name], paced, args.paced, args.connections, database_url
                )
    if args.profile > 0:
        with console.status(f"py-spy on server A under the same load, {args.profile:g} s"):
            results.profile = profile_server(
                real, script, args.profile, args.connections, workdir, args.profile_output
            )
    if args.mixed > 0:
        with console.status(
            f"mixed workload: {args.mixed:g} s per server at {args.mixed_clients} clients"
        ):
            results.mixed = mixed.run_all(
                by_name, tenants["a"], database_url, workdir, args.mixed, args.warmup,
                args.mixed_clients, wrk, GRID, results.notes,
            )  # fmt: skip
    check_servers(real, bare, tenants, expected)  # still right after the load


# Report -------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, results: Results) -> None:
    a, b = Merged(results.runs["A"]), Merged(results.runs["B"])
    table = Table(
        title=f"GET {PATH}, {args.connections} connections, {args.rounds} alternating rounds,"
        f" {args.duration:g} s per server (wrk, 1 thread)"
    )
    for h in ("server", "req/s", "p50", "p95", "p99", "max", "errors", "rows checked",
              "server CPU/req", "PG CPU/req"):  # fmt: skip
        table.add_column(h, justify="left" if h == "server" else "right")
    for label, m in (("A: real app (uvicorn app.asgi:app)", a), ("B: bare Litestar + asyncpg", b)):
        table.add_row(
            label, f"{m.rps:,.0f}", ms(m.quantile(50)), ms(m.quantile(95)), ms(m.quantile(99)),
            ms(max(r.max_us for r in m.runs) / 1e6), str(sum(r.errors for r in m.runs)),
            f"{sum(r.checked for r in m.runs):,}", f"{m.per_request_ms('server_cpu_s'):.2f} ms",
            f"{m.per_request_ms('db_cpu_s'):.2f} ms",
        )  # fmt: skip
    console.print(table)
    rounds = ", ".join(
        f"{r.server} {r.rps:,.0f}" for pair in zip(a.runs, b.runs, strict=True) for r in pair
    )
    console.print(f"req/s per round: {rounds}")
    if max(results.load_before[0], results.load_after[0]) > (os.cpu_count() or 2):
        console.print(
            "[bold yellow]The machine was busy with other work (load average above its"
            f" {os.cpu_count()} cores): the scheduler, not the servers, set much of the"
            " throughput; compare the CPU per request, which other work hardly moves.[/bold yellow]"
        )
    console.print(
        f"load generator CPU/req: A {a.per_request_ms('loadgen_cpu_s'):.2f} ms,"
        f" B {b.per_request_ms('loadgen_cpu_s'):.2f} ms; load average before"
        f" {results.load_before[0]:.1f}, after {results.load_after[0]:.1f} (2 cores)"
    )
    for note in results.notes:
        console.print(f"checked: {note}")
    console.print(f"SQL run by both (captured from the real app): {results.sql}")
    errors = sum(r.errors for r in a.runs + b.runs)
    ratio = a.rps / b.rps
    cpu_ratio = b.per_request_ms("server_cpu_s") / a.per_request_ms("server_cpu_s")
    console.print(
        f"Target: A/B throughput ≥ {RATIO_TARGET} — {ratio:.2f}"
        f" (server CPU per request B/A: {cpu_ratio:.2f}): {verdict(ratio >= RATIO_TARGET)}"
    )
    p99 = a.quantile(99) * 1000
    console.print(
        f"Target, saturated reading: A p99 < {P99_TARGET_MS:.0f} ms at {args.connections}"
        f" connections without pause — {p99:.1f} ms: {verdict(p99 < P99_TARGET_MS)}"
        f" (closed loop: mean latency = {args.connections} / req/s, so p99 < {P99_TARGET_MS:.0f} ms"
        f" needs ≥ {args.connections / P99_TARGET_MS * 1000:,.0f} req/s; B does {b.rps:,.0f})"
    )
    report_paced(args, results)
    errors += sum(r.errors for r in results.paced.values())
    if results.mixed:
        errors += mixed.report(console, results.mixed, Merged)
    console.print(f"Responses with an error or a wrong page: {errors}: {verdict(errors == 0)}")
    console.print()

    table = Table(title=f"One client at a time ({args.sequential} requests each, keep-alive)")
    for h in ("server", "median", "p90", "p99", "server CPU/req"):
        table.add_column(h, justify="left" if h == "server" else "right")
    for name, (samples, cpu) in results.sequential.items():
        q = statistics.quantiles(samples, n=100, method="inclusive")
        table.add_row(name, ms(statistics.median(samples)), ms(q[89]), ms(q[98]), ms(cpu))
    console.print(table)
    report_trace(results)
    report_profile(results)


def report_paced(args: argparse.Namespace, results: Results) -> None:
    if not results.paced:
        return
    offered = args.connections / (args.think_ms / 1000)
    table = Table(
        title=f"{args.connections} clients pausing {args.think_ms // 2}–{args.think_ms * 3 // 2} ms"
        f" between requests (offered ≲ {offered:,.0f} req/s), {args.paced:g} s each"
    )
    for h in ("server", "req/s", "p50", "p95", "p99", "max", "errors", "server CPU/req"):
        table.add_column(h, justify="left" if h == "server" else "right")
    for name, run in results.paced.items():
        m = Merged([run])
        table.add_row(
            name, f"{m.rps:,.0f}", ms(m.quantile(50)), ms(m.quantile(95)), ms(m.quantile(99)),
            ms(run.max_us / 1e6), str(run.errors), f"{m.per_request_ms('server_cpu_s'):.2f} ms",
        )  # fmt: skip
    console.print(table)
    if "A" in results.paced:
        p99 = Merged([results.paced["A"]]).quantile(99) * 1000
        console.print(
            f"Target, paced reading: A p99 < {P99_TARGET_MS:.0f} ms with {args.connections} clients"
            f" thinking ~{args.think_ms} ms — {p99:.1f} ms: {verdict(p99 < P99_TARGET_MS)}"
        )


def report_trace(results: Results) -> None:
    trace = results.trace
    if trace is None:
        return
    t = Table(
        title=f"Where a request's time goes: server T (A + stopwatches), one client at a time,"
        f" {len(trace.records)} requests. CPU = the event loop thread's CPU during the phase"
    )
    for h in ("phase (nested phases indented)", "wall mean", "wall median", "CPU mean", "calls"):
        t.add_column(h, justify="left" if h.startswith("phase") else "right")
    nested = {
        "sessions.load": ["redis GET", "redis EXPIRE"],
        "list_subscribers (action)": [
            "pool acquire", "sql BEGIN", "sql set_config(search_path)",
            "sql SELECT … FROM subscriber", "sql COMMIT", "pool release (reset)",
        ],
    }  # fmt: skip
    whole = "request (whole ASGI app)"
    hops = [x for x in trace.labels() if x.startswith("sync ")]
    top = ["hosts.resolve (tenant)", "sessions.load", *hops, "list_subscribers (action)",
           "encode_json (msgspec)", "request log line"]  # fmt: skip
    counted = {whole, "process CPU"}

    def row(label: str, indent: str) -> None:
        counted.add(label)
        calls = statistics.fmean(r.get("#" + label, 0.0) for r in trace.records)
        t.add_row(
            indent + label, ms(trace.mean(label)), ms(trace.median(label)),
            ms(trace.mean("cpu:" + label)), f"{calls:g}",
        )  # fmt: skip

    def rest(label: str, parent: str, parts: Sequence[str]) -> None:
        wall = trace.mean(parent) - sum(trace.mean(c) for c in parts)
        cpu = trace.mean("cpu:" + parent) - sum(trace.mean("cpu:" + c) for c in parts)
        t.add_row(label, ms(wall), "", ms(cpu), "")

    row(whole, "")
    for label in top:
        row(label, "  ")
        for child in nested.get(label, []):
            row(child, "      ")
        if label == "list_subscribers (action)":
            rest("      rest: rows → SubscriberOut, scope code", label, nested[label])
    rest("  rest: Litestar (routing, DI, response), CSRF, middleware", whole, top)
    for label in trace.labels():
        if label not in counted:
            row(label, "  (other) ")
    console.print(t)
    console.print(
        f"process CPU per request, all threads: {ms(trace.mean('process CPU'))}"
        f" (event loop thread {ms(trace.mean('cpu:' + whole))}; uvicorn's parsing of the request"
        " happens before the ASGI app is called and is in neither)"
    )
    per_request = {q: n / len(trace.records) for q, n in trace.statements.items()}
    console.print("statements per request: " + "; ".join(
        f"{n:.2g}× {' '.join(q.split())[:70]}" for q, n in per_request.items()
    ))  # fmt: skip


def report_profile(results: Results) -> None:
    p = results.profile
    if p is None or p.samples == 0:
        return
    console.print()
    busy = p.samples / p.possible if p.possible else 0.0
    others = sum(n for name, n in p.threads.items() if name != "MainThread")
    t = Table(
        title=f"py-spy on server A under load: the event loop thread (MainThread) was running in"
        f" {busy:.0%} of {p.possible:,} ticks; other threads (anyio's pool: the sync guard) in"
        f" {others / p.possible:.0%}, over {len(p.threads) - 1} threads. Shares of the event"
        " loop's samples:"
    )
    t.add_column("component (innermost matching frame)")
    t.add_column("share", justify="right")
    for name, n in p.components.most_common():
        t.add_row(name, f"{n / p.samples:.1%}")
    console.print(t)
    t = Table(title="Inclusive: share of samples inside each function")
    t.add_column("function")
    t.add_column("share", justify="right")
    for label, _f, _p in INCLUSIVE:
        t.add_row(label, f"{p.inclusive[label] / p.samples:.1%}")
    console.print(t)
    t = Table(title="Top innermost frames")
    t.add_column("frame")
    t.add_column("share", justify="right")
    for frame, n in p.leaves.most_common(12):
        t.add_row(frame.replace(str(ROOT) + "/", "")[-90:], f"{n / p.samples:.1%}")
    console.print(t)


# Entry point --------------------------------------------------------------------------------------


def delete_redis_keys(redis_url: str, database_url: str) -> int:
    """The queue namespace and the bench tenants' keys (sessions, throttles), nothing else."""
    import redis

    async def tenant_ids() -> list[str]:
        try:
            conn = await asyncpg.connect(database_url)
        except (OSError, asyncpg.PostgresError):
            return []
        try:
            rows = await conn.fetch(
                "SELECT id FROM public.tenant WHERE slug = ANY($1::text[])", list(TENANTS.values())
            )
            return [str(r["id"]) for r in rows]
        except asyncpg.PostgresError:
            return []
        finally:
            await conn.close()

    patterns = [f"{QUEUE_NAMESPACE}:*", f"wisp:signup:{QUEUE_NAMESPACE}:*"]
    patterns += [f"wisp:{t}:*" for t in asyncio.run(tenant_ids())]
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [k for p in patterns for k in client.scan_iter(match=p, count=500)]
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=15, help="measured s per server (15)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices (3)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up s per server (3)")
    parser.add_argument("--connections", type=int, default=100, help="concurrent clients (100)")
    parser.add_argument("--subscribers", type=int, default=500, help="in tenant A (500)")
    parser.add_argument("--sequential", type=int, default=300, help="one-client requests (300)")
    parser.add_argument(
        "--think-ms", type=int, default=1000, help="paced clients' mean pause (1000)"
    )
    parser.add_argument("--paced", type=float, default=8, help="paced s per server, 0: none (8)")
    parser.add_argument("--profile", type=float, default=8, help="py-spy seconds, 0: none (8)")
    parser.add_argument(
        "--profile-output", type=Path, help="keep py-spy's collapsed stacks (for a flame graph)"
    )
    parser.add_argument(
        "--mixed", type=float, default=6, help="mixed workload s per server and client count (6)"
    )
    parser.add_argument(
        "--mixed-clients",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[50, 100],
        help="client counts of the mixed workload (50,100)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.duration / max(args.rounds, 1) < 1 or args.rounds < 1 or args.warmup < 1:
        parser.error("each round and the warm-up must last at least 1 s")
    if args.subscribers < PAGE + 1 or args.connections < 1 or args.sequential < 10:
        parser.error(f"--subscribers above {PAGE}, --sequential at least 10")
    if args.think_ms < 2:
        parser.error("--think-ms must be at least 2")
    mixed_s = (args.mixed + args.warmup) * 2 * len(args.mixed_clients) if args.mixed > 0 else 0
    if args.duration + args.profile + args.warmup * 2 + args.paced * 2 + mixed_s > 300:
        parser.error("keep the load under 5 minutes")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the load: apt-get install -y wrk")
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name, admin_url = bench_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["WISP_QUEUE_NAMESPACE"] = QUEUE_NAMESPACE
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    redis_url = os.environ["REDIS_URL"]
    results = Results()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wisp-bench-api-") as folder:
        workdir = Path(folder)
        try:
            with console.status(f"recreating database {name} and running `wisp migrate`"):
                asyncio.run(recreate_database(admin_url, name, create=True))
                delete_redis_keys(redis_url, database_url)
                run_cli_migrate()
            servers: list[Server] = []
            try:
                measure(args, database_url, workdir, results, servers)
            finally:
                for s in servers:
                    s.stop()
        except Exception:
            for log in sorted(workdir.glob("*.log")):
                console.print(f"[red]--- {log.name} (tail)[/red]\n{log.read_text()[-2000:]}")
            raise
        finally:
            delete_redis_keys(redis_url, database_url)
            if not args.keep:
                with console.status("dropping the database"):
                    asyncio.run(recreate_database(admin_url, name, create=False))
    console.print()
    report(args, results)
    kept = f"database {name} kept" if args.keep else f"database {name} dropped"
    console.print(
        f"\n{kept}; Redis keys of {QUEUE_NAMESPACE} and the bench tenants deleted;"
        f" whole run {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
