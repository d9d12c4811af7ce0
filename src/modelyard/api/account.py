"""Routes: the caller's account, hardware, the webhook signing secret, health."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelyard.api.deps import CurrentAccount, PlatformDep, json_response
from modelyard.core.shapes import Account as AccountShape
from modelyard.core.shapes import Hardware

router = APIRouter()


@router.get("/v1/account")
async def get_account(account: CurrentAccount) -> Response:
    shape = AccountShape(
        type="organization" if account.type == "organization" else "user",
        username=account.username,
        name=account.name,
        organizations=[name for _, name in account.organizations],
    )
    return json_response(shape.to_json())


@router.get("/v1/hardware")
async def list_hardware(platform: PlatformDep, account: CurrentAccount) -> Response:
    return json_response([Hardware(sku=h.sku, name=h.name).to_json() for h in platform.hardware()])


@router.get("/v1/webhooks/default/secret")
async def webhook_secret(account: CurrentAccount) -> Response:
    return json_response({"key": account.webhook_secret})


@router.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})
