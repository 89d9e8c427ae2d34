from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post

from app.audit import Actor
from app.signup import actions, idempotency
from app.signup.schemas import SignupIn, SignupOut
from app.web.deps import on_base_host


class SignupController(Controller):
    path = "/api/v1/signup"
    guards = [on_base_host]
    tags = ["signup"]

    @post("", status_code=201, summary="Sign a new WISP up")
    async def sign_up(
        self, request: Request[Any, Any, Any], data: SignupIn, actor: Actor
    ) -> SignupOut:
        key = idempotency.key_for(request, data)
        if key is not None and (first := await idempotency.replay(data, key)) is not None:
            return first
        out = await actions.sign_up(data, actor)
        if key is not None:
            await idempotency.remember(out, key)
        return out
