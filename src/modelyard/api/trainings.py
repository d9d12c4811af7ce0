"""Routes: /v1/trainings, the version-scoped create endpoint, and trainings' coglet webhooks."""

from __future__ import annotations

import json

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
from modelyard.services import trainings as service

router = APIRouter()


@router.post("/v1/models/{owner}/{name}/versions/{version_id}/trainings")
async def create_training(
    owner: str,
    name: str,
    version_id: str,
    request: Request,
    platform: PlatformDep,
    account: CurrentAccount,
    urls: UrlsDep,
) -> Response:
    body = parse_body(service.CreateTraining, await read_json(request))
    async with platform.db.connect() as conn:
        version = await platform.catalog.resolve(conn, account, f"{owner}/{name}:{version_id}")
    row = await service.create_training(platform, account, version, body)
    rendered = service.render_training(row, urls)
    return json_response(rendered, status=201, headers={"Location": rendered["urls"]["get"]})


@router.get("/v1/trainings")
async def list_trainings(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    rows, next_cursor = await service.list_trainings(
        platform, account, cursor=request.query_params.get("cursor")
    )
    results = [service.render_training(r, urls) for r in rows]
    return json_response(page(urls, "/v1/trainings", results, next_cursor))


@router.get("/v1/trainings/{training_id}")
async def get_training(
    training_id: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    row = await service.get_training(platform, account, training_id)
    return json_response(service.render_training(row, urls), headers={"Cache-Control": "no-store"})


@router.post("/v1/trainings/{training_id}/cancel")
async def cancel_training(
    training_id: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    row = await service.cancel_training(platform, account, training_id)
    return json_response(service.render_training(row, urls))


@router.post("/internal/events/{token}/{training_id}")
async def training_event(
    token: str, training_id: str, request: Request, platform: PlatformDep
) -> Response:
    """Where a train-mode coglet POSTs its webhooks (see runtime/_training.py); only the
    instance running the training, by its upload token, is heard."""
    instance = platform.upload_instance(token)
    if instance is None:
        return Response(status_code=404)
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return Response(status_code=400)
    # A late delivery for a training that has ended is answered 200: coglet must not retry it.
    if isinstance(payload, dict):
        instance.deliver(training_id, payload)
    return Response(status_code=200)
