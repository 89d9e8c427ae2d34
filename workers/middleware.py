"""Every tenant job carries its tenant; one without it fails loudly, before it is queued."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
from dramatiq.middleware import MiddlewareError


class TenantMissing(MiddlewareError):
    """Raised for a tenant actor's message that names no tenant (a MiddlewareError, so Dramatiq
    does not swallow it and send the message anyway)."""


def _tenant_arg(message: dramatiq.Message[Any]) -> str | None:
    if not message.args:
        return None
    candidate = message.args[0]
    try:
        uuid.UUID(str(candidate))
    except ValueError:
        return None
    return str(candidate)


class TenantMiddleware(dramatiq.Middleware):
    @property
    def actor_options(self) -> set[str]:
        return {"tenant_scoped"}

    def _check(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("tenant_scoped"):
            return
        tenant_id = _tenant_arg(message)
        if tenant_id is None:
            raise TenantMissing(f"{message.actor_name} needs a tenant id as its first argument")
        message.options["tenant_id"] = tenant_id

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int
    ) -> None:
        self._check(broker, message)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._check(broker, message)
