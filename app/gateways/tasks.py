"""Gateway jobs: noticing silent gateways and telling the managers, once per outage.

`check_gateways` (every minute, from the scheduler, for tenants with enrolled gateways) marks
offline every gateway silent for `OFFLINE_AFTER` and enqueues one alert per newly offline
gateway. `alert_offline` mails the tenant's active managers. An outage is identified by its
`offline_since`; the mail is sent at most once per outage, however often the jobs run
(a Redis mark set after sending, and `offline_alerted_at` recorded after that).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from app.core import audit, mail
from app.core.audit import SYSTEM
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.core.jobs import enqueue_after_commit
from app.core.mailtext import unlinkable
from app.core.redis import get_redis, key
from app.core.timeutil import iso, now
from app.gateways.tables import Gateway
from app.identity.access import active_managers
from tenants.jobs import Scope, periodic, tenant_actor
from tenants.registry import Tenant, TenantRef
from tenants.scope import tenant_scope

log = logging.getLogger(__name__)

OFFLINE_AFTER = dt.timedelta(minutes=5)
MAILED_TTL = 30 * 24 * 3600


def _outage_key(tenant: TenantRef, gateway_id: str, since: dt.datetime) -> str:
    return key(tenant.id, "gateway-offline-mailed", gateway_id, int(since.timestamp()))


async def tenants_with_gateways() -> list[str]:
    """Active tenants that have at least one enrolled gateway (from the public lookup)."""
    rows = await Tenant.raw(
        "SELECT t.id FROM public.tenant t WHERE t.status = 'active' AND EXISTS"
        " (SELECT 1 FROM public.gateway_secret_lookup l WHERE l.tenant = t.id)"
    )
    return [str(r["id"]) for r in rows]


# Only tenants with an enrolled gateway: most tenants have nothing to check each minute.
@periodic("check-gateways", dt.timedelta(minutes=1), tenants=tenants_with_gateways)
@tenant_actor(max_retries=3)
async def check_gateways(scope: Scope) -> None:
    rows = await scope.connection.fetch(
        "UPDATE gateway SET online = false, offline_since = last_seen_at"
        " WHERE online AND revoked_at IS NULL AND enrolled_at IS NOT NULL"
        " AND last_seen_at < $1 RETURNING id, name, offline_since",
        now() - OFFLINE_AFTER,
    )
    for r in rows:
        await audit.record(
            SYSTEM, "gateway.offline", "gateway", r["id"], since=iso(r["offline_since"])
        )
        since = iso(r["offline_since"])
        enqueue_after_commit(scope, "gateways.alert_offline", scope.tenant.id, r["id"], since)


@tenant_actor(max_retries=10)
async def alert_offline(scope: Scope, gateway_id: str, since: str) -> None:
    tenant = scope.tenant
    row = await Gateway.select().where(Gateway.id == uuid.UUID(gateway_id)).first()
    if row is None or row["online"] or row["offline_since"] is None:
        return  # back online already: no alert for an outage that is over
    if iso(row["offline_since"]) != since or row["offline_alerted_at"] is not None:
        return
    managers = await active_managers()
    mailed = _outage_key(tenant, gateway_id, row["offline_since"])
    link = f"{get_settings().portal_url(tenant.slug)}/app/gateways/{gateway_id}"
    messages = []
    for manager in managers:
        with use_language(manager["language"] or tenant.language):
            subject = _("Gateway {name} is offline").format(name=row["name"])
            text = _(
                "The gateway {name} of {company} has not called in since {since} (UTC).\n\n"
                "Subscribers behind it keep the access they had, but changes (activations, "
                "suspensions, payments) will not reach it until it is back.\n\n"
                "See its status: {link}\n\n"
                "You get this message once per outage."
            ).format(
                name=row["name"],
                company=unlinkable(tenant.name),
                since=row["offline_since"].strftime("%Y-%m-%d %H:%M"),
                link=link,
            )
        messages.append(mail.build(manager["email"], subject, text))

    async def deliver() -> None:
        redis = get_redis()
        if not await redis.set(mailed, "1", nx=True, ex=MAILED_TTL):
            return
        try:
            for message in messages:
                await mail.send(message)
        except Exception:
            await redis.delete(mailed)  # let the retry send it
            raise
        await _record_alerted(tenant, row["id"], row["offline_since"], len(messages))

    scope.after_commit(deliver)


async def _record_alerted(
    tenant: TenantRef, gateway_id: uuid.UUID, since: dt.datetime, recipients: int
) -> None:
    try:
        async with tenant_scope(tenant):
            await Gateway.update({Gateway.offline_alerted_at: now()}).where(
                Gateway.id == gateway_id, Gateway.offline_since == since
            )
            await audit.record(
                SYSTEM, "gateway.offline_alerted", "gateway", gateway_id, recipients=recipients
            )
    except Exception:
        log.exception("could not record a gateway offline alert")
