"""Routes (extensions): API tokens, users, organizations and their members."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api.deps import CurrentAccount, PlatformDep, json_response, parse_body, read_json
from modelyard.services import accounts as service

router = APIRouter()


@router.get("/v1/account/tokens")
async def list_tokens(request: Request, platform: PlatformDep, account: CurrentAccount) -> Response:
    """The caller's tokens (or, with `?account=ORG`, an organization's), never the tokens."""
    of = request.query_params.get("account")
    return json_response({"results": await service.list_tokens(platform, account, of)})


@router.post("/v1/account/tokens")
async def create_token(
    request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    body = parse_body(service.CreateToken, await read_json(request))
    return json_response(await service.create_token(platform, account, body), status=201)


@router.delete("/v1/account/tokens/{token_id}")
async def revoke_token(token_id: str, platform: PlatformDep, account: CurrentAccount) -> Response:
    await service.revoke_token(platform, account, token_id)
    return Response(status_code=204)


@router.post("/v1/users")
async def create_user(request: Request, platform: PlatformDep, account: CurrentAccount) -> Response:
    body = parse_body(service.CreateUser, await read_json(request))
    return json_response(await service.create_user(platform, account, body), status=201)


@router.post("/v1/organizations")
async def create_organization(
    request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    body = parse_body(service.CreateOrganization, await read_json(request))
    return json_response(await service.create_organization(platform, account, body), status=201)


@router.get("/v1/organizations/{name}/members")
async def list_members(name: str, platform: PlatformDep, account: CurrentAccount) -> Response:
    return json_response({"results": await service.list_members(platform, account, name)})


@router.post("/v1/organizations/{name}/members")
async def add_member(
    name: str, request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    body = parse_body(service.AddMember, await read_json(request))
    members = await service.add_member(platform, account, name, body.username)
    return json_response({"results": members}, status=201)
