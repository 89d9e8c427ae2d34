"""The agent: enroll once, then long-poll the desired state, apply it, acknowledge it; send
telemetry; run link tests; rotate the secret now and then.

Outages: the last applied state is on disk and is enforced at start before the cloud is asked
anything; every call that fails is retried with exponential back-off and jitter; the agent
resumes from the version it applied (an unacknowledged version is acknowledged first), and
telemetry samples wait in a bounded buffer until the cloud takes them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from pathlib import Path
from typing import Any

from wisp_gateway.client import Backoff, Cloud, ProtocolError, Refused, Unreachable
from wisp_gateway.config import Config
from wisp_gateway.drivers import Driver, make_driver
from wisp_gateway.linktest import run_link_test
from wisp_gateway.model import Entry, Failure, merge
from wisp_gateway.store import AppliedState, Credentials, Store
from wisp_gateway.system import Runner
from wisp_gateway.telemetry import Sampler

log = logging.getLogger("wisp_gateway")

TELEMETRY_BUFFER = 2000
TELEMETRY_BATCH = 500


class Fatal(Exception):
    """The agent cannot go on (no credential and no usable token)."""


def hardware_id(config: Config) -> str:
    if config.hardware_id:
        return config.hardware_id
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            return Path(path).read_text().strip()
    return ""


class Agent:
    def __init__(self, config: Config, *, driver: Driver | None = None, transport: Any = None):
        self.config = config
        self.store = Store(config.state_dir)
        self.runner = Runner(config.netns)
        self.driver = driver or make_driver(config)
        verify: bool | str = config.ca_file or config.verify_tls
        self.cloud = Cloud(config.cloud_url, verify=verify, transport=transport)
        self.state = AppliedState()
        self.failures: list[Failure] = []
        self.stop = asyncio.Event()
        self.commands_seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.tasks: set[asyncio.Task[None]] = set()
        self.applied_versions: list[int] = []
        """Versions acknowledged, for tests and the log."""

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    # enrollment -----------------------------------------------------------------------------

    async def enroll(self, token: str) -> Credentials:
        answer = await self.cloud.enroll(token, hardware_id(self.config))
        credentials = Credentials(gateway_id=answer["gateway_id"], secret=answer["secret"])
        self.store.save_credentials(credentials)
        log.info("enrolled as gateway %s of %s", answer["gateway_id"], answer.get("tenant"))
        return credentials

    async def ensure_credentials(self) -> None:
        backoff = Backoff(cap=self.config.backoff_max)
        while not self.stop.is_set():
            credentials = self.store.credentials()
            if credentials is not None:
                self.cloud.secret = credentials.secret
                return
            if not self.config.enrollment_token:
                raise Fatal("no secret yet: give an enrollment token (enrollment_token)")
            try:
                await self.enroll(self.config.enrollment_token)
            except Refused as exc:
                raise Fatal(f"the enrollment token was refused: {exc}") from exc
            except (Unreachable, ProtocolError) as exc:
                log.warning("enrollment failed, retrying: %s", exc)
                await self._sleep(backoff.next())

    async def _refused(self, why: str, backoff: Backoff) -> None:
        """The secret was refused (revoked, or replaced by a re-enrollment elsewhere)."""
        log.error("the cloud refused this gateway's secret: %s", why)
        token = self.config.enrollment_token
        if token:
            with contextlib.suppress(Refused, Unreachable, ProtocolError):
                credentials = await self.enroll(token)
                self.cloud.secret = credentials.secret
                self.state.epoch = None  # a new enrollment: start from a full state
                return
        await self._sleep(backoff.next())

    # desired state --------------------------------------------------------------------------

    async def enforce(self, desired: dict[str, Entry]) -> list[Failure]:
        try:
            return await self.driver.apply(desired)
        except Exception as exc:
            log.exception("the driver failed to apply the state")
            return [Failure(sid, e.mac, f"driver error: {exc}"[:300]) for sid, e in desired.items()]

    async def deliver_ack(self) -> None:
        pending = self.state.pending_ack
        if pending is None:
            return
        try:
            await self.cloud.ack(pending["version"], pending["failures"])
        except ProtocolError as exc:
            # The cloud does not know this version (restored from a backup): start over.
            log.warning("acknowledgement refused (%s); asking for the full state", exc)
            self.state.version = None
        else:
            self.applied_versions.append(pending["version"])
            log.info("acknowledged version %s", pending["version"])
        self.state.pending_ack = None
        self.store.save_state(self.state)

    async def handle(self, answer: dict[str, Any]) -> None:
        changed = (
            answer["full"]
            or answer["version"] != self.state.version
            or bool(answer["subscribers"])
            or answer.get("epoch") != self.state.epoch
        )
        if changed or self.failures:
            desired, bad = merge(self.state.subscribers, answer)
            failures = await self.enforce(desired) + bad
            previous, self.failures = self.failures, failures
            if changed or failures != previous:
                self.state = AppliedState(
                    version=answer["version"],
                    epoch=answer.get("epoch"),
                    subscribers=desired,
                    pending_ack={
                        "version": answer["version"],
                        "failures": [f.as_json() for f in failures],
                    },
                )
                self.store.save_state(self.state)
                log.info(
                    "applied version %s (%s, %d subscribers, %d failures)",
                    answer["version"],
                    "full" if answer["full"] else "delta",
                    len(desired),
                    len(failures),
                )
                await self.deliver_ack()
        for command in answer.get("commands", []):
            self.start_command(command)

    async def sync_loop(self) -> None:
        backoff = Backoff(cap=self.config.backoff_max)
        while not self.stop.is_set():
            try:
                await self.deliver_ack()
                answer = await self.cloud.state(
                    self.state.version, self.state.epoch, self.config.poll_wait
                )
                await self.handle(answer)
                backoff.reset()
            except Refused as exc:
                await self._refused(str(exc), backoff)
            except (Unreachable, ProtocolError) as exc:
                delay = backoff.next()
                log.warning("state sync failed (%s); retrying in %.1fs", exc, delay)
                await self._sleep(delay)
            except Exception:
                log.exception("unexpected error in the state sync")
                await self._sleep(backoff.next())

    # commands -------------------------------------------------------------------------------

    def start_command(self, command: dict[str, Any]) -> None:
        command_id = str(command.get("id"))
        if command_id in self.commands_seen:
            return
        self.commands_seen[command_id] = None
        while len(self.commands_seen) > 500:
            self.commands_seen.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._run_command(command))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_command(self, command: dict[str, Any]) -> None:
        if command.get("kind") != "link_test":
            result: dict[str, Any] = {
                "ok": False,
                "error": f"unknown command {command.get('kind')}",
            }
        else:
            try:
                result = await asyncio.wait_for(
                    run_link_test(self.runner, command, self.config.linux.lan_interface),
                    float(command.get("timeout_s", 60)),
                )
            except TimeoutError:
                result = {"ok": False, "error": "the test timed out"}
            except Exception as exc:
                log.exception("link test failed")
                result = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        backoff = Backoff(cap=self.config.backoff_max)
        for _attempt in range(8):
            try:
                await self.cloud.command_result(str(command["id"]), result)
                log.info("link test %s: %s", command["id"], "ok" if result["ok"] else "failed")
                return
            except (Unreachable, Refused) as exc:
                log.warning("could not post a link test result (%s)", exc)
                await self._sleep(backoff.next())
            except ProtocolError as exc:
                log.warning("link test result refused: %s", exc)
                return

    # telemetry and rotation -----------------------------------------------------------------

    async def _circuit_ok(self) -> bool | None:
        host = self.config.circuit_check_host
        if not host:
            return None
        result = await self.runner.run(["ping", "-n", "-q", "-c", "2", "-W", "2", host], limit=10)
        return result.code == 0

    async def telemetry_loop(self) -> None:
        sampler = Sampler(
            self.runner, self.driver, self.config.wan_interface, self.store.telemetry_seq()
        )
        buffer: collections.deque[dict[str, Any]] = collections.deque(maxlen=TELEMETRY_BUFFER)
        while not self.stop.is_set():
            try:
                enabled = sum(1 for e in self.state.subscribers.values() if e.enabled)
                buffer.append(await sampler.sample(enabled, await self._circuit_ok()))
                self.store.save_telemetry_seq(sampler.seq)
            except Exception as exc:
                log.warning("telemetry sample failed: %s", exc)
            while buffer and not self.stop.is_set():
                batch = list(buffer)[:TELEMETRY_BATCH]
                try:
                    answer = await self.cloud.telemetry(batch)
                    if answer.get("usage_rejected"):
                        # Not retried: the cloud took the batch and says why it left these out.
                        log.warning(
                            "the cloud did not count %s per-subscriber amounts: %s",
                            answer["usage_rejected"],
                            answer.get("rejections", [])[:3],
                        )
                except (Unreachable, Refused) as exc:
                    log.warning("telemetry kept for later (%d samples): %s", len(buffer), exc)
                    break
                except ProtocolError as exc:
                    log.warning("telemetry batch refused, dropped: %s", exc)
                for _ in batch:
                    buffer.popleft()
            await self._sleep(self.config.telemetry_interval)

    async def rotation_loop(self) -> None:
        every = self.config.rotate_every_hours * 3600
        if every <= 0:
            return
        while not self.stop.is_set():
            await self._sleep(every)
            if self.stop.is_set():
                return
            try:
                answer = await self.cloud.rotate()
            except (Unreachable, Refused, ProtocolError) as exc:
                log.warning("secret rotation failed (the current secret stays): %s", exc)
                continue
            credentials = self.store.credentials()
            gateway_id = credentials.gateway_id if credentials else ""
            self.store.save_credentials(Credentials(gateway_id, answer["secret"]))
            self.cloud.secret = answer["secret"]
            log.info("secret rotated")

    # main -----------------------------------------------------------------------------------

    async def run(self) -> None:
        self.store.prepare()
        self.state = self.store.state()
        if self.state.subscribers:
            # The cloud may be unreachable for a long time: keep enforcing what we last knew.
            self.failures = await self.enforce(self.state.subscribers)
            log.info("re-applied saved version %s", self.state.version)
        try:
            await self.ensure_credentials()
            loops = [self.sync_loop(), self.telemetry_loop(), self.rotation_loop()]
            running = [asyncio.create_task(loop) for loop in loops]
            await self.stop.wait()
            for task in [*running, *self.tasks]:
                task.cancel()
            await asyncio.gather(*running, *self.tasks, return_exceptions=True)
        finally:
            await self.cloud.close()
