"""A private stack for the fault tests: a Redis server of their own (so restarting it disturbs no
other test), the web app under uvicorn and Dramatiq workers as real processes that can be
killed with SIGKILL, all on a job-queue namespace of their own. The tests talk HTTP to it.

The queue is configured as in production except for its timings: a worker silent for
HEARTBEAT_MS is dead, every queue command looks for dead workers, and a failed job is retried
after MIN_BACKOFF_MS, so a killed worker's jobs come back within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.conftest import (
    PASSWORD,
    ROOT,
    WORKER,
    TenantClient,
    _free_port,
    _fresh_address,
    confirm_owner,
)

HEARTBEAT_MS = 3000
MIN_BACKOFF_MS = 300


class RedisServer:
    """redis-server on 127.0.0.1 and a port of its own, its data (an append-only file, synced
    on every write) in a folder of its own, so a restart keeps sessions and queued jobs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the server flushes and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


class Stack:
    def __init__(self, folder: Path, smtp_port: int) -> None:
        self.folder = folder
        self.redis = RedisServer(folder / "redis")
        self.namespace = f"wisp-faults-{WORKER}-{secrets.token_hex(3)}"
        self.port = _free_port()
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.smtp_port = smtp_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = os.environ.copy()
        env.update(
            REDIS_URL=self.redis.url,
            WISP_QUEUE_NAMESPACE=self.namespace,
            WISP_QUEUE_HEARTBEAT_TIMEOUT_MS=str(HEARTBEAT_MS),
            WISP_QUEUE_MAINTENANCE_CHANCE="1000000",
            WISP_QUEUE_MIN_BACKOFF_MS=str(MIN_BACKOFF_MS),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.smtp_port),
            PORT=str(self.port),
        )
        return env

    def spawn(self, args: list[str], log_name: str, pool: int = 3) -> subprocess.Popen[bytes]:
        """A process of the stack; `pool` caps its PostgreSQL connections (the server's
        connections are shared with every other test run on the machine)."""
        with (self.folder / log_name).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, "DB_POOL_MAX": str(pool)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: SIGKILL reaches its children
            )

    def start(self) -> None:
        self.redis.start()
        self.web = self.spawn(
            [
                "-m",
                "uvicorn",
                "app.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            "web.log",
            pool=6,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.web.poll() is None, (self.folder / "web.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the web app did not start")

    def stop(self) -> None:
        for proc in self.workers:
            kill(proc)  # nothing of theirs is worth waiting for: the namespace is ours alone
        if self.web is not None:
            kill(self.web, signal.SIGTERM)
        self.redis.stop()

    # Workers -------------------------------------------------------------------------------

    def heartbeats(self) -> set[str]:
        key = f"{self.namespace}:__heartbeats__"
        return set(self.redis.client().zrange(key, 0, -1))

    async def start_worker(self) -> subprocess.Popen[bytes]:
        """A Dramatiq worker (one process, two threads, as the session fixture's), once it
        fetches from the queue."""
        before = self.heartbeats()
        proc = self.spawn(
            ["-m", "dramatiq", "workers.tasks", "--processes", "1", "--threads", "2"],
            f"worker-{len(self.workers)}.log",
        )
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while not self.heartbeats() - before:
            assert proc.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker never fetched"
            await asyncio.sleep(0.1)
        return proc

    def enqueue(self, actor_name: str, *args: Any) -> None:
        """Send a job as the scheduler does (to this stack's queue)."""
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=self.redis.url, namespace=self.namespace)  # type: ignore[no-untyped-call]
        message: Any = dramatiq.Message(
            queue_name="default", actor_name=actor_name, args=args, kwargs={}, options={}
        )
        broker.enqueue(message)
        broker.close()

    # Clients -------------------------------------------------------------------------------

    def client(self, host: str = "localhost") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Host": host}, timeout=60)

    async def tenant(self) -> TenantClient:
        """A tenant signed up through the stack, with its manager signed in."""
        slug = f"f-{WORKER}-{secrets.token_hex(4)}"
        email = f"owner@{slug}.example.com"
        async with self.client() as base:
            r = await base.post(
                "/api/v1/signup",
                json={
                    "company_name": f"WISP {slug}",
                    "slug": slug,
                    "email": email,
                    "password": PASSWORD,
                    "language": "en",
                },
                # Signups are throttled per client address; uvicorn takes it from the proxy
                # header when the peer is 127.0.0.1, as behind a load balancer.
                headers={"X-Forwarded-For": _fresh_address()},
            )
            assert r.status_code == 201, r.text
        await confirm_owner(slug)  # what following the welcome mail's link does
        host = f"{slug}.localhost"
        tc = TenantClient(slug=slug, email=email, client=self.client(host), host=host)
        await tc.get("/api/v1/auth/me")  # the CSRF cookie
        r = await tc.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return tc


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process's whole group (Dramatiq's forked workers and their PDF renderers
    too), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def running_stack(folder: Path, smtp_port: int) -> Iterator[Stack]:
    stack = Stack(folder, smtp_port)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
