"""What a WebAuthn ceremony checks against: the relying party, the origin, the challenge.

The RP ID is the tenant host the request came to (one RP ID per host, so a passkey made on one
tenant's portal is useless on another's); the origin is that host with the public scheme and
port. Challenges live in Redis under the tenant's id, expire after five minutes and are taken
with GETDEL, so each one verifies at most one response, success or failure.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from typing import Any

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json

from app.core.config import Settings, get_settings
from app.core.i18n import _
from app.core.problems import Invalid, Problem
from app.core.redis import get_redis, key
from tenants.hosts import normalise
from tenants.registry import TenantRef

CHALLENGE_TTL = 300
REGISTRATION = "registration"
AUTHENTICATION = "authentication"


class NotOnAName(Problem):
    status = 400
    slug = "passkeys-need-a-host-name"

    def title(self) -> str:
        return _("Passkeys need the portal's name")


def rp_id_for(host_header: str | None) -> str:
    """The request's host name, the only RP ID a browser accepts for this origin."""
    host = normalise(host_header)
    if not host or _is_ip(host):
        # WebAuthn never accepts an IP address as an RP ID.
        raise NotOnAName(_("Open the portal by its name, not by an IP address, to use passkeys."))
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def origin_for(host: str, scheme: str, port: int) -> str:
    """`scheme://host[:port]`, the port left out when it is the scheme's default."""
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port == default_port else f"{scheme}://{host}:{port}"


def expected_origin(rp_id: str, settings: Settings | None = None) -> str:
    """The origin browsers report on this host, derived as `Settings.portal_url` does."""
    settings = settings or get_settings()
    port = int(os.environ.get("PUBLIC_PORT", settings.port))
    return origin_for(rp_id, settings.public_scheme, port)


@dataclass(frozen=True, slots=True)
class Pending:
    """A challenge we issued and have not seen answered yet."""

    challenge: bytes
    rp_id: str
    user_id: str | None


def _challenge_key(tenant: TenantRef, purpose: str, challenge: bytes) -> str:
    return key(tenant.id, "passkey-challenge", purpose, hashlib.sha256(challenge).hexdigest())


async def remember(
    tenant: TenantRef, purpose: str, challenge: bytes, rp_id: str, user_id: str | None = None
) -> None:
    value = {"challenge": bytes_to_base64url(challenge), "rp_id": rp_id, "user_id": user_id}
    await get_redis().set(
        _challenge_key(tenant, purpose, challenge), json.dumps(value), ex=CHALLENGE_TTL
    )


def challenge_in(response: dict[str, Any]) -> bytes:
    """The challenge the browser signed, read from the (still unverified) clientDataJSON."""
    try:
        client_data = parse_client_data_json(base64url_to_bytes(str(response["clientDataJSON"])))
    except Exception:
        raise Invalid({"response.clientDataJSON": _("This value is not valid.")}) from None
    return client_data.challenge


async def take(tenant: TenantRef, purpose: str, challenge: bytes) -> Pending | None:
    """The pending challenge, removed at once: None when unknown, expired or already used."""
    raw = await get_redis().getdel(_challenge_key(tenant, purpose, challenge))
    if raw is None:
        return None
    value = json.loads(raw)
    return Pending(
        challenge=base64url_to_bytes(value["challenge"]),
        rp_id=str(value["rp_id"]),
        user_id=value["user_id"],
    )
