"""The Litestar application: every host, every route."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from app.billing.controllers import (
    BillingController,
    BillingReportController,
    ExemptionController,
    InvoiceController,
    PaymentController,
)
from app.billing.portal import PortalBillingController
from app.config import get_settings
from app.db import close_pool, open_pool
from app.gateways.controllers import (
    GatewayController,
    SubscriberNetworkController,
    captive_page,
)
from app.gateways.gateway_controllers import GatewayProtocolController
from app.gateways.wakeups import close_hub
from app.health.controllers import health, ready
from app.identity.admin_controllers import ApiTokenController, AuditLogController
from app.identity.controllers import AuthController, StaffController
from app.identity.passkeys.controllers import PasskeyController
from app.identity.permissions import authorize
from app.logs import configure_logging
from app.network.controllers import AccessPointController, SiteController
from app.plans.controllers import RatePlanController
from app.problems import EXCEPTION_HANDLERS
from app.pwa.controllers import HANDLERS as PWA_HANDLERS
from app.redis import close_redis
from app.signup.controllers import SignupController
from app.subscribers.controllers import SubscriberController
from app.subscribers.portal_controllers import PortalController
from app.web.deps import DEPENDENCIES
from app.web.middleware import BearerAwareCSRFMiddleware, ContextMiddleware
from app.web.outages import OUTAGE_HANDLERS
from app.workorders.controllers import WorkOrderController

# Unsafe requests with no ambient credential to abuse skip CSRF: signup on the base host (no
# session can exist there), gateways (bearer secrets), and the health probes.
CSRF_EXEMPT = [r"^/api/v1/signup$", r"^/gateway/", r"^/health$", r"^/ready$"]


def route_handlers() -> list[ControllerRouterHandler]:
    handlers: list[ControllerRouterHandler] = [
        health,
        ready,
        SignupController,
        AuthController,
        PasskeyController,
        StaffController,
        ApiTokenController,
        AuditLogController,
        BillingController,
        InvoiceController,
        PaymentController,
        ExemptionController,
        BillingReportController,
        RatePlanController,
        SiteController,
        AccessPointController,
        SubscriberController,
        WorkOrderController,
        PortalController,
        PortalBillingController,
        GatewayController,
        SubscriberNetworkController,
        GatewayProtocolController,
        captive_page,
    ]
    # Last: the PWA's pages and files (its routes never overlap /api, /gateway or /dev).
    handlers += PWA_HANDLERS
    settings = get_settings()
    if settings.dev_mail_dir and not settings.is_production:
        from app.web.devmail import dev_mail_index, dev_mail_message

        handlers += [dev_mail_index, dev_mail_message]
    return handlers


def create_app() -> Litestar:
    settings = get_settings()
    configure_logging(settings.log_level)
    return Litestar(
        route_handlers=route_handlers(),
        dependencies=DEPENDENCIES,
        # CSRF is our subclass of Litestar's middleware (not `csrf_config=`, which would add
        # the stock one too): bearer-only calls have no cookie to forge and skip it.
        middleware=[
            DefineMiddleware(ContextMiddleware),
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
        guards=[authorize],
        exception_handlers={**EXCEPTION_HANDLERS, **OUTAGE_HANDLERS},
        on_startup=[open_pool],
        on_shutdown=[close_hub, close_pool, close_redis],
        openapi_config=OpenAPIConfig(
            title="Wisp Cloud API",
            version="1.0.0",
            path="/schema",
            description="The API of Wisp Cloud, on each WISP's portal host.",
        ),
        logging_config=None,
        debug=False,
    )
