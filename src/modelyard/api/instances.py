"""Routes: /v1/instances, the model instances running here (an extension)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api.deps import CurrentAccount, PlatformDep, json_response
from modelyard.services import instances as service

router = APIRouter()


@router.get("/v1/instances")
async def list_instances(
    request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    include_stopped = request.query_params.get("all", "").lower() in ("1", "true", "yes")
    results = await service.list_instances(platform, account, include_stopped=include_stopped)
    return json_response({"results": results})


@router.get("/v1/instances/{instance_id}")
async def get_instance(
    instance_id: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    return json_response(await service.get_instance(platform, account, instance_id))
