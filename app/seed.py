"""The demo tenant that `make run` creates, so there is something to sign in to."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from app.core.audit import SYSTEM
from app.core.config import ROOT, get_settings
from app.signup.actions import sign_up
from app.signup.schemas import SignupIn
from tenants.registry import tenant_by_slug

DEMO_SLUG = "demo"
DEMO_EMAIL = "manager@demo.example.com"


@dataclass(frozen=True)
class DemoLogin:
    portal_url: str
    email: str
    password: str


def _password() -> str:
    path = ROOT / ".data" / "demo-password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = "demo-" + secrets.token_urlsafe(9)
    path.write_text(password)
    path.chmod(0o600)
    return password


async def seed_demo() -> DemoLogin:
    password = _password()
    if await tenant_by_slug(DEMO_SLUG) is None:
        await sign_up(
            SignupIn(company_name="Demo WISP", slug=DEMO_SLUG, email=DEMO_EMAIL, password=password),
            SYSTEM,
            by_operator=True,  # the demo's owner address is confirmed from the start
        )
    return DemoLogin(get_settings().portal_url(DEMO_SLUG), DEMO_EMAIL, password)
