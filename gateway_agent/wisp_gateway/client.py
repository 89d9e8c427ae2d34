"""The cloud's gateway protocol (`/gateway/v1`), over httpx.

Errors come in two kinds: `Refused` (the cloud answered 401/403: the token or secret is not
good, retrying the same call will not help) and `Unreachable` (network errors, timeouts, 5xx,
429: retry later with back-off). Anything else is a `ProtocolError` (a bug on one side).
"""

from __future__ import annotations

import logging
import random
from typing import Any

import httpx

from wisp_gateway import __version__

log = logging.getLogger(__name__)


class CloudError(Exception):
    pass


class Refused(CloudError):
    pass


class Unreachable(CloudError):
    pass


class ProtocolError(CloudError):
    pass


class Backoff:
    """Exponential back-off with full jitter: a fleet that lost the cloud together does not
    come back in one wave."""

    def __init__(self, base: float = 1.0, cap: float = 60.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.failures))  # noqa: S311
        self.failures = min(self.failures + 1, 30)
        return max(delay, 0.05)

    def reset(self) -> None:
        self.failures = 0


class Cloud:
    def __init__(self, base_url: str, *, verify: bool | str = True, transport: Any = None) -> None:
        self.secret: str | None = None
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/gateway/v1",
            verify=verify,
            timeout=httpx.Timeout(20.0),
            headers={"User-Agent": f"wisp-gateway/{__version__}"},
            transport=transport,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if self.secret is not None:
            headers["Authorization"] = f"Bearer {self.secret}"
        try:
            response = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
        status = response.status_code
        if status in (401, 403):
            raise Refused(_detail(response))
        if status == 429 or status >= 500:
            raise Unreachable(f"{method} {path}: HTTP {status}")
        if status >= 400:
            raise ProtocolError(f"{method} {path}: HTTP {status}: {_detail(response)}")
        return response.json() if response.content else None

    async def enroll(self, token: str, hardware_id: str) -> dict[str, Any]:
        body = {"token": token, "hardware_id": hardware_id, "agent_version": __version__}
        return await self._call("POST", "/enroll", json=body)  # type: ignore[no-any-return]

    async def rotate(self) -> dict[str, Any]:
        return await self._call("POST", "/rotate")  # type: ignore[no-any-return]

    async def state(self, since: int | None, epoch: int | None, wait: int) -> dict[str, Any]:
        params: dict[str, Any] = {"wait": wait}
        if since is not None:
            params["since"] = since
        if epoch is not None:
            params["epoch"] = epoch
        return await self._call(  # type: ignore[no-any-return]
            "GET", "/state", params=params, timeout=wait + 20.0
        )

    async def ack(self, version: int, failures: list[dict[str, str]]) -> dict[str, Any]:
        body = {"version": version, "failures": failures}
        return await self._call("POST", "/ack", json=body)  # type: ignore[no-any-return]

    async def telemetry(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST", "/telemetry", json={"samples": samples}
        )

    async def command_result(self, command_id: str, result: dict[str, Any]) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/commands/{command_id}/result", json=result
        )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.status_code)
    return f"HTTP {response.status_code}"
