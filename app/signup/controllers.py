from __future__ import annotations

from litestar import Controller, post

from app.core.audit import Actor
from app.core.roles import ANYONE, allow
from app.signup import actions
from app.signup.schemas import SignupIn, SignupOut
from tenants.context import on_base_host


class SignupController(Controller):
    path = "/api/v1/signup"
    guards = [on_base_host]
    tags = ["signup"]

    @post("", status_code=201, summary="Sign a new WISP up", roles=allow(ANYONE))
    async def sign_up(self, data: SignupIn, actor: Actor) -> SignupOut:
        return await actions.sign_up(data, actor)


HANDLERS = [SignupController]
