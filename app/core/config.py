"""The one configuration object, read from the environment.

Every process (web, worker, scheduler, CLI) reads the same variables; `.env.example` lists
them all. Values are read once per process and cached; tests set the environment first.
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str
    """PostgreSQL DSN. `wisp run` starts an embedded server when it is unset."""
    redis_url: str
    """Redis URL for sessions, throttling, caches and the job queue."""
    base_domain: str
    """Tenant portals live at `{slug}.{base_domain}`; signup lives at `base_domain` itself."""
    port: int
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_from: str
    secret_key: str
    """Signs CSRF tokens. Required in production; in development one is kept in `.data/`."""
    environment: str
    """`development` or `production`."""
    public_scheme: str
    """`https` behind TLS: makes cookies Secure and portal URLs https."""
    queue_namespace: str
    """Redis key prefix of the job queue (tests give each test process its own)."""
    dev_mail_dir: str
    """Where the development SMTP catcher stores mails; enables the `/dev/mail` page."""
    log_level: str
    db_pool_max: int
    allow_future_billing: bool
    media_dir: str
    """Where uploaded files (work order photos) are stored, one folder per tenant id."""
    queue_heartbeat_timeout_ms: int = 60_000
    """A worker silent this long is dead: the queue hands its unacknowledged jobs to others."""
    queue_maintenance_chance: int = 100_000
    """Per million queue commands, how many also look for dead workers. An idle worker sends
    about one command a second per queue; Dramatiq's default of 1,000 left a killed worker's
    jobs waiting many minutes past the timeout, this about ten seconds. A pass is two small
    sorted-set reads unless a dead worker is found."""
    queue_min_backoff_ms: int = 15_000
    """The first retry of a failed job waits this long (doubling on each further retry)."""

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def portal_url(self, slug: str) -> str:
        """The public address of a tenant's portal, port included when it is not standard."""
        host = f"{slug}.{self.base_domain}"
        default_port = 443 if self.public_scheme == "https" else 80
        public_port = int(os.environ.get("PUBLIC_PORT", self.port))
        if public_port != default_port:
            host = f"{host}:{public_port}"
        return f"{self.public_scheme}://{host}"


def _dev_secret_key() -> str:
    path = ROOT / ".data" / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings() -> Settings:
    env = os.environ
    environment = env.get("WISP_ENV", "development")
    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if environment == "production":
            raise RuntimeError("SECRET_KEY must be set in production")
        secret_key = _dev_secret_key()
    return Settings(
        database_url=env.get("DATABASE_URL", ""),
        redis_url=env.get("REDIS_URL", ""),
        base_domain=env.get("BASE_DOMAIN", "localhost").lower(),
        port=int(env.get("PORT", "8000")),
        smtp_host=env.get("SMTP_HOST", ""),
        smtp_port=int(env.get("SMTP_PORT", "25")),
        smtp_user=env.get("SMTP_USER", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_from=env.get("SMTP_FROM", "Wisp Cloud <no-reply@localhost>"),
        secret_key=secret_key,
        environment=environment,
        public_scheme=env.get("PUBLIC_SCHEME", "http"),
        queue_namespace=env.get("WISP_QUEUE_NAMESPACE", "wisp"),
        dev_mail_dir=env.get("WISP_DEV_MAIL_DIR", ""),
        log_level=env.get("LOG_LEVEL", "INFO"),
        db_pool_max=int(env.get("DB_POOL_MAX", "10")),
        allow_future_billing=_bool(env.get("WISP_ALLOW_FUTURE_BILLING")),
        media_dir=env.get("MEDIA_DIR") or str(ROOT / ".data" / "media"),
        queue_heartbeat_timeout_ms=int(env.get("WISP_QUEUE_HEARTBEAT_TIMEOUT_MS", "60000")),
        queue_maintenance_chance=int(env.get("WISP_QUEUE_MAINTENANCE_CHANCE", "100000")),
        queue_min_backoff_ms=int(env.get("WISP_QUEUE_MIN_BACKOFF_MS", "15000")),
    )


@functools.cache
def get_settings() -> Settings:
    return load_settings()
