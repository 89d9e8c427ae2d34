"""The role × route table covers every route, and each role gets exactly what it says."""

from __future__ import annotations

from typing import Any

from litestar.routes import HTTPRoute


def registered_routes(app: Any) -> set[str]:
    from app.identity.permissions import PUBLIC_PREFIXES, route_key

    keys = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(PUBLIC_PREFIXES):
            continue
        for method in route.methods - {"OPTIONS", "HEAD"}:
            keys.add(route_key(method, route.path_format))
    return keys


async def test_every_route_is_in_the_table(app: Any) -> None:
    from app.identity.permissions import ROUTES

    missing = registered_routes(app) - set(ROUTES)
    assert not missing, f"add these routes to app/identity/permissions.py ROUTES: {missing}"


async def test_table_names_no_route_that_does_not_exist(app: Any) -> None:
    from app.identity.permissions import ROUTES

    stale = {k for k in ROUTES if not k.split(" ", 1)[1].startswith("/dev/")} - registered_routes(
        app
    )
    assert not stale, f"the table lists routes the app does not have: {stale}"
