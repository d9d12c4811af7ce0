"""Routes (extensions): usage reports, credit balance and top-ups."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from modelyard.api.deps import CurrentAccount, PlatformDep, json_response, parse_body, read_json
from modelyard.services import accounts as accounts_service
from modelyard.services import billing as service

router = APIRouter()


class AddCredit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount_usd: float
    note: str | None = None


@router.get("/v1/usage")
async def usage(request: Request, platform: PlatformDep, account: CurrentAccount) -> Response:
    """`?start=&end=&group_by=model|hardware|day|deployment[&account=ORG]`."""
    params = request.query_params
    report = await service.usage(
        platform,
        account,
        start=params.get("start"),
        end=params.get("end"),
        group_by=params.get("group_by"),
        of=params.get("account"),
    )
    return json_response(report)


@router.get("/v1/account/credit")
async def credit(platform: PlatformDep, account: CurrentAccount) -> Response:
    return json_response(await service.balance(platform, account.id))


@router.post("/v1/accounts/{username}/credit")
async def add_credit(
    username: str, request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    """The administrator tops up an account's credit."""
    accounts_service.require_admin(platform, account)
    body = parse_body(AddCredit, await read_json(request))
    return json_response(
        await service.add_credit(platform, username, body.amount_usd, body.note), status=201
    )
