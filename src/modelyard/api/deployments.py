"""Routes: /v1/deployments and predictions on a deployment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api.deps import (
    CurrentAccount,
    PlatformDep,
    UrlsDep,
    json_response,
    parse_body,
    read_json,
)
from modelyard.api.pagination import page
from modelyard.api.predictions import create_and_respond
from modelyard.services import deployments as service
from modelyard.services.predictions import CreatePrediction

router = APIRouter()


@router.get("/v1/deployments")
async def list_deployments(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    views, next_cursor = await service.list_deployments(
        platform, account, cursor=request.query_params.get("cursor")
    )
    results = [service.render_deployment(v) for v in views]
    return json_response(page(urls, "/v1/deployments", results, next_cursor))


@router.post("/v1/deployments")
async def create_deployment(
    request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    body = parse_body(service.CreateDeployment, await read_json(request))
    view = await service.create_deployment(platform, account, body)
    return json_response(service.render_deployment(view))


@router.get("/v1/deployments/{owner}/{name}")
async def get_deployment(
    owner: str, name: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    view = await service.get_deployment(platform, account, owner, name)
    return json_response(service.render_deployment(view))


@router.patch("/v1/deployments/{owner}/{name}")
async def update_deployment(
    owner: str, name: str, request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    body = parse_body(service.UpdateDeployment, await read_json(request))
    view = await service.update_deployment(platform, account, owner, name, body)
    return json_response(service.render_deployment(view))


@router.delete("/v1/deployments/{owner}/{name}")
async def delete_deployment(
    owner: str, name: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    await service.delete_deployment(platform, account, owner, name)
    return Response(status_code=204)


@router.post("/v1/deployments/{owner}/{name}/predictions")
async def create_deployment_prediction(
    owner: str,
    name: str,
    request: Request,
    platform: PlatformDep,
    account: CurrentAccount,
    urls: UrlsDep,
) -> Response:
    body = parse_body(CreatePrediction, await read_json(request))
    target = await service.prediction_target(platform, account, owner, name)
    return await create_and_respond(
        platform,
        account,
        urls,
        request,
        target.version,
        body,
        deployment=target.deployment,
        queue=target.queue,
        hardware=target.hardware,
    )
