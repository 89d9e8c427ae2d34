"""The Litestar application: every host, every route."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from app.core.config import get_settings
from app.core.db import close_pool, open_pool
from app.core.discovery import domain_modules, load_tasks, route_handlers
from app.core.logs import configure_logging
from app.core.problems import EXCEPTION_HANDLERS
from app.core.redis import close_redis
from app.identity.permissions import authorize
from app.web.crosssite import CrossSiteMiddleware
from app.web.devmail import dev_mail_index, dev_mail_message
from app.web.input_guard import check_input
from app.web.middleware import BearerAwareCSRFMiddleware, ContextMiddleware
from app.web.openapi import finish as finish_openapi
from app.web.outages import OUTAGE_HANDLERS
from tenants.context import DEPENDENCIES

# JSON bodies are small; the routes that take files or batches declare more of their own.
MAX_BODY_BYTES = 1024 * 1024

# Unsafe requests with no ambient credential to abuse skip CSRF: signup on the base host (no
# session can exist there), gateways (bearer secrets), and the health probes.
CSRF_EXEMPT = [r"^/api/v1/signup$", r"^/gateway/", r"^/health$", r"^/ready$"]


def all_handlers() -> list[ControllerRouterHandler]:
    """Every domain's `HANDLERS` (`app/<domain>/controllers.py`), plus the development mail
    viewer when mail is caught locally."""
    handlers: list[ControllerRouterHandler] = route_handlers()
    settings = get_settings()
    if settings.dev_mail_dir and not settings.is_production:
        handlers += [dev_mail_index, dev_mail_message]
    return handlers


def create_app() -> Litestar:
    settings = get_settings()
    configure_logging(settings.log_level)
    # Actions enqueue jobs by actor name: the actors must be declared in this process too.
    load_tasks()
    shutdown = [
        hook for m in domain_modules("controllers") for hook in getattr(m, "ON_SHUTDOWN", [])
    ]
    app = Litestar(
        route_handlers=all_handlers(),
        dependencies=DEPENDENCIES,
        # CSRF is our subclass of Litestar's middleware (not `csrf_config=`, which would add
        # the stock one too): bearer-only calls have no cookie to forge and skip it.
        middleware=[
            DefineMiddleware(ContextMiddleware),
            # Before the token check: a sibling tenant's page can plant a token cookie.
            DefineMiddleware(CrossSiteMiddleware),
            DefineMiddleware(
                BearerAwareCSRFMiddleware,
                config=CSRFConfig(
                    secret=settings.secret_key,
                    cookie_name="csrftoken",
                    header_name="x-csrftoken",
                    cookie_secure=settings.public_scheme == "https",
                    cookie_samesite="lax",
                    exclude=CSRF_EXEMPT,
                ),
            ),
        ],
        # Who may call the route first, then what the request carries (app/core/inputs.py).
        guards=[authorize, check_input],
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers={**EXCEPTION_HANDLERS, **OUTAGE_HANDLERS},
        on_startup=[open_pool],
        on_shutdown=[*shutdown, close_pool, close_redis],
        openapi_config=OpenAPIConfig(
            title="Wisp Cloud API",
            version="1.0.0",
            path="/schema",
            description="The API of Wisp Cloud, on each WISP's portal host.",
        ),
        logging_config=None,
        debug=False,
    )
    # Security, error answers, formats and enums the handlers' types cannot say (a fault in
    # it fails here, at start, not on the first request for the document).
    finish_openapi(app)
    return app
