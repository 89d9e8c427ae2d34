"""Captive-portal decisions and the pages a cut-off subscriber is sent to.

The gateway asks about a MAC it intercepted; the answer is `allow`, or `redirect` to a page on
the tenant's host, in the subscriber's language, that says why there is no Internet and what
to do. The pages carry no personal data (the URL names only the reason and the language), so
they are public and safe to show to whoever holds the link.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Response

from app.core.i18n import LANGUAGES, _, lazy, use_language
from app.core.problems import Invalid, NotFound
from app.gateways.access import serves, site_ids
from app.gateways.credentials import GatewayCredential, verify
from app.gateways.schemas import PortalDecision
from app.gateways.sync import PAGES, portal_info
from app.subscribers.mac import normalise_mac
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

ALLOW = "allow"
REDIRECT = "redirect"


async def decide(credential: GatewayCredential, raw_mac: str) -> PortalDecision:
    mac, problem = normalise_mac(raw_mac)
    if mac is None:
        raise Invalid({"mac": problem or _("Enter a MAC address such as aa:bb:cc:dd:ee:ff.")})
    tenant = credential.tenant
    async with tenant_scope(tenant):
        gateway = await verify(credential)
        circuit_ok = await current_scope().connection.fetchval(
            "SELECT circuit_ok FROM gateway WHERE id = $1", gateway["id"]
        )
        subscriber = await current_scope().connection.fetchrow(
            "SELECT id, status, suspension_reason, language FROM subscriber"
            " WHERE cpe_mac = $1 AND status <> 'cancelled'",
            mac,
        )
        if subscriber is not None and not await serves(
            await site_ids(gateway["id"]), subscriber["id"]
        ):
            subscriber = None
    language = (subscriber["language"] if subscriber else None) or tenant.language
    if subscriber is None:
        reason = "unknown"
    elif subscriber["status"] == "suspended":
        reason = subscriber["suspension_reason"] or "admin"
    elif subscriber["status"] != "active":
        reason = "not_active"
    elif not circuit_ok:
        reason = "circuit_failure"
    else:
        return PortalDecision(action=ALLOW, url=None, reason=None)
    page = portal_info(tenant).pages.get(reason, portal_info(tenant).pages["admin"])
    return PortalDecision(action=REDIRECT, url=f"{page}?lang={language}", reason=reason)


# The pages ----------------------------------------------------------------------------------

_TEXTS: dict[str, tuple[Any, Any]] = {
    "non-payment": (
        lazy("Your service is suspended for non-payment"),
        lazy(
            "Your Internet service is paused because a payment is overdue. To restore it, sign "
            "in to your customer portal and pay online, or pay at our office. The service comes "
            "back automatically within minutes of the payment."
        ),
    ),
    "suspended": (
        lazy("Your service is suspended"),
        lazy(
            "Your Internet service is paused by your provider. Please contact us to restore it; "
            "your customer portal shows your account and lets you open a support ticket."
        ),
    ),
    "data-cap": (
        lazy("You have reached your data allowance"),
        lazy(
            "Your plan's data allowance for this billing cycle is used up. The service returns "
            "at the start of the next cycle, or sooner if you change to a larger plan."
        ),
    ),
    "circuit-failure": (
        lazy("There is a problem with our network"),
        lazy(
            "Our connection to the Internet is failing in your area. We know about it and are "
            "working to restore the service; you do not need to do anything."
        ),
    ),
    "unknown": (
        lazy("This device is not registered"),
        lazy(
            "This device is not registered for Internet service on this network. If you are a "
            "subscriber, contact us so we can register your equipment."
        ),
    ),
    "not-active": (
        lazy("Your service is not active yet"),
        lazy(
            "Your installation is not finished yet. The service starts as soon as the "
            "technician activates it."
        ),
    ),
}
assert set(_TEXTS) == set(PAGES.values())

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {company}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;
color:#1f2937;line-height:1.5}}h1{{font-size:1.5rem}}a.button{{display:inline-block;
padding:.6rem 1.2rem;background:#1d4ed8;color:#fff;border-radius:.4rem;text-decoration:none}}
footer{{margin-top:2rem;color:#6b7280;font-size:.9rem}}</style></head>
<body><main><p>{company}</p><h1>{title}</h1><p>{body}</p>
<p><a class="button" href="{portal}">{action}</a></p></main>
<footer>{footer}</footer></body></html>"""


def render(tenant: TenantRef, page: str, lang: str | None) -> Response[str]:
    if page not in _TEXTS:
        raise NotFound(_("No such page."))
    language = lang if lang in LANGUAGES else tenant.language
    with use_language(language):
        title, body = (str(t) for t in _TEXTS[page])
        portal = portal_info(tenant).url + "/portal"
        action = _("Pay online") if page == "non-payment" else _("Go to your customer portal")
        footer = _("This page is shown by {company}'s network.").format(company=tenant.name)
        content = _PAGE.format(
            lang=language,
            title=html.escape(title),
            company=html.escape(tenant.name),
            body=html.escape(body),
            portal=html.escape(portal),
            action=html.escape(action),
            footer=html.escape(footer),
        )
    return Response(
        content,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "Content-Language": language},
    )
