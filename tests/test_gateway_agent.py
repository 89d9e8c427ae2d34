"""The closed loop with the real agent (dryrun driver) against a real uvicorn server.

Staff act through the in-process app; the agent talks HTTP to a separate server process. Both
share PostgreSQL and Redis, so a suspension made here wakes the agent's long poll over there
through Redis, as it would across web processes in production.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, WORKER, eventually
from tests.support.provisioning import active_subscriber, ok
from tests.test_gateways_support import new_gateway


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`uvicorn app.asgi:app` on one port, stoppable and restartable (a cloud outage)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = ROOT / ".data" / f"gateway-server-{WORKER}.log"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--log-level", "warning"),
                ],
                cwd=ROOT,
                env=os.environ.copy(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    srv.start()
    yield srv
    srv.stop()


def make_agent(server: Server, state_dir: Path, token: str = "", **extra: Any) -> Any:
    from wisp_gateway.agent import Agent
    from wisp_gateway.config import load

    env = {
        "WISP_GATEWAY_CLOUD_URL": server.url,
        "WISP_GATEWAY_STATE_DIR": str(state_dir),
        "WISP_GATEWAY_ENROLLMENT_TOKEN": token,
        "WISP_GATEWAY_DRIVER": "dryrun",
        "WISP_GATEWAY_WAN_INTERFACE": "lo",
        "WISP_GATEWAY_POLL_WAIT": "20",
        "WISP_GATEWAY_TELEMETRY_INTERVAL": "1",
        "WISP_GATEWAY_BACKOFF_MAX": "1",
        **extra,
    }
    return Agent(load(None, env))


async def enforced_at(tc: Any, sub_id: str, above: int, timeout: float = 20) -> dict[str, Any]:
    async def check() -> Any:
        out = ok(await tc.get(f"/api/v1/subscribers/{sub_id}/enforcement"))
        return out if out["enforced"] and (out["desired_version"] or 0) > above else None

    return await eventually(check, timeout)  # type: ignore[no-any-return]


async def test_closed_loop_suspend_and_reactivate(
    make_tenant: Any, server: Server, tmp_path: Path
) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    broken = await active_subscriber(tc)
    gw = await new_gateway(tc)
    agent = make_agent(
        server,
        tmp_path,
        gw["enrollment_token"],
        WISP_GATEWAY_DRYRUN__FAIL_MACS=broken["cpe_mac"],
    )
    running = asyncio.create_task(agent.run())
    try:
        first = await enforced_at(tc, sub["id"], 0)
        # The subscriber the driver cannot apply is reported, and shown as not enforced.
        failing = ok(await tc.get(f"/api/v1/subscribers/{broken['id']}/enforcement"))
        assert failing["enforced"] is False
        assert "configured to fail" in failing["gateways"][0]["error"]
        assert agent.driver.applied[sub["id"]].enabled is True
        timings = {}
        for action, body, enabled in (
            ("suspend", {"reason": "non_payment"}, False),
            ("resume", {}, True),
        ):
            started = time.monotonic()
            changed = ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/{action}", json=body))
            assert changed["status"] == ("suspended" if action == "suspend" else "active")
            first = await enforced_at(tc, sub["id"], first["desired_version"])
            timings[action] = time.monotonic() - started
            assert agent.driver.applied[sub["id"]].enabled is enabled
        print(
            "\nclosed loop, change to the cloud reporting the gateway's ack: "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
        )
        assert all(t < 10 for t in timings.values()), timings
        view = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
        assert view["status"] == "online"
        assert view["lag_versions"] == 0
        assert view["agent_version"] == "0.1.0"
        # Telemetry arrives every second with growing sequence numbers.
        samples = await eventually(lambda: _samples(tc, gw["id"], at_least=2), timeout=15)
        seqs = [s["seq"] for s in samples]
        assert seqs == sorted(seqs, reverse=True)
        assert samples[0]["gap_before"] == 0
    finally:
        agent.stop.set()
        await asyncio.wait_for(running, 15)
    secret_file = tmp_path / "credentials.json"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700
    assert agent.store.state().version == first["desired_version"]


async def test_agents_follow_a_subscriber_that_moves_to_another_site(
    make_tenant: Any, server: Server, tmp_path: Path
) -> None:
    """Issue 12, defect 1, with real agents: the old site's gateway forgets the subscriber,
    the new site's takes it, and a later suspension reaches the new one."""
    from tests.support.provisioning import install, make_plan, make_subscriber
    from tests.test_gateways_support import make_site

    tc = await make_tenant()
    t1, t2 = await make_site(tc), await make_site(tc)
    sub = await make_subscriber(tc, (await make_plan(tc))["id"], site_id=t1["id"])
    await install(tc, sub["installation_work_order_id"])
    gw1 = await new_gateway(tc, site_ids=[t1["id"]])
    gw2 = await new_gateway(tc, site_ids=[t2["id"]])
    agent1 = make_agent(server, tmp_path / "gw1", gw1["enrollment_token"])
    agent2 = make_agent(server, tmp_path / "gw2", gw2["enrollment_token"])
    running = [asyncio.create_task(a.run()) for a in (agent1, agent2)]
    path = f"/api/v1/subscribers/{sub['id']}"

    async def all_done(action: str) -> Any:
        out = ok(await tc.get(f"{path}/enforcement"))
        actions = {g["gateway_id"]: (g["action"], g["enforced"]) for g in out["gateways"]}
        if action == "moved" and actions.get(gw1["id"]) != ("forget", True):
            return None
        return out if out["enforced"] else None

    try:
        first = await enforced_at(tc, sub["id"], 0)
        assert agent1.driver.applied[sub["id"]].enabled is True
        assert sub["id"] not in agent2.driver.applied
        ok(await tc.patch(path, json={"site_id": t2["id"]}))
        moved = await eventually(lambda: all_done("moved"), 20)
        assert moved["desired_version"] > first["desired_version"]
        assert sub["id"] not in agent1.driver.applied
        assert agent2.driver.applied[sub["id"]].enabled is True
        ok(await tc.post(f"{path}/suspend", json={"reason": "non_payment"}))
        await enforced_at(tc, sub["id"], moved["desired_version"])
        assert agent2.driver.applied[sub["id"]].enabled is False
        assert sub["id"] not in agent1.driver.applied
    finally:
        for a in (agent1, agent2):
            a.stop.set()
        await asyncio.wait_for(asyncio.gather(*running), 15)


async def _samples(tc: Any, gateway_id: str, at_least: int) -> Any:
    items = ok(await tc.get(f"/api/v1/gateways/{gateway_id}/telemetry"))["items"]
    return items if len(items) >= at_least else None


async def test_agent_survives_a_cloud_outage_and_resumes_from_its_version(
    make_tenant: Any, tmp_path: Path
) -> None:
    srv = Server()
    srv.start()
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    gw = await new_gateway(tc)
    agent = make_agent(srv, tmp_path, gw["enrollment_token"])
    running = asyncio.create_task(agent.run())
    try:
        first = await enforced_at(tc, sub["id"], 0)
        srv.stop()  # the cloud goes away; the agent keeps what it enforces
        ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
        await asyncio.sleep(2)
        assert agent.driver.applied[sub["id"]].enabled is True  # nothing new reached it
        srv.start()  # back on the same port: the agent's retries find it
        await enforced_at(tc, sub["id"], first["desired_version"])
        assert agent.driver.applied[sub["id"]].enabled is False
    finally:
        agent.stop.set()
        await asyncio.wait_for(running, 15)
    saved = agent.store.state()
    assert saved.subscribers[sub["id"]].enabled is False
    # A restart (no token needed any more) enforces the saved state before asking the cloud,
    # then asks only for changes after its version.
    again = make_agent(srv, tmp_path)
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/resume", json={}))
    running = asyncio.create_task(again.run())
    try:
        await eventually(lambda: again.driver.applies >= 1, 5)
        await enforced_at(tc, sub["id"], saved.version or 0)
        assert again.driver.applied[sub["id"]].enabled is True
    finally:
        again.stop.set()
        await asyncio.wait_for(running, 15)
        srv.stop()


async def test_link_test_round_trip(make_tenant: Any, server: Server, tmp_path: Path) -> None:
    from tests.conftest import require_tool

    require_tool("ping", "iputils-ping")
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    gw = await new_gateway(tc)
    agent = make_agent(server, tmp_path, gw["enrollment_token"])
    running = asyncio.create_task(agent.run())
    try:
        await enforced_at(tc, sub["id"], 0)
        started = time.monotonic()
        asked = ok(
            await tc.post(
                f"/api/v1/subscribers/{sub['id']}/link-test",
                json={"address": "127.0.0.1", "count": 3},
            ),
            202,
        )
        assert asked["status"] == "pending"

        async def finished() -> Any:
            items = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/link-tests"))["items"]
            return items[0] if items and items[0]["status"] in ("done", "failed") else None

        result = await eventually(finished, 20)
        print(f"\nlink test: requested to result in {time.monotonic() - started:.2f} s")
        assert result["id"] == asked["id"]
        assert result["gateway_id"] == gw["id"]
        assert result["status"] == "done", result
        assert result["result"]["ok"] is True
        assert result["result"]["loss_percent"] == 0
        assert result["result"]["rtt_avg_ms"] is not None
        assert result["result"]["address"] == "127.0.0.1"
    finally:
        agent.stop.set()
        await asyncio.wait_for(running, 15)
