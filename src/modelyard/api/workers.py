"""Routes: /v1/workers, the cluster's worker agents (an extension)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelyard.api.deps import CurrentAccount, PlatformDep, json_response
from modelyard.services import workers as service

router = APIRouter()


@router.get("/v1/workers")
async def list_workers(platform: PlatformDep, account: CurrentAccount) -> Response:
    return json_response({"results": await service.list_workers(platform.db)})
