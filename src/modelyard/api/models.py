"""Routes: /v1/models, their versions, and pushing a version bundle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelyard.api.deps import (
    CurrentAccount,
    PlatformDep,
    UrlsDep,
    json_response,
    parse_body,
    read_json,
)
from modelyard.api.limits import parse_json
from modelyard.api.pagination import page
from modelyard.core.errors import BadRequest, ModelyardError, PayloadTooLarge
from modelyard.services import models as service
from modelyard.services import versions as versions_service

router = APIRouter()

MAX_BUNDLE = versions_service.MAX_BUNDLE_BYTES  # the body limit of the push route


@router.get("/v1/models")
async def list_models(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    rows, next_cursor = await service.list_models(
        platform, account, cursor=request.query_params.get("cursor")
    )
    results = [await service.render_model(platform, r, urls) for r in rows]
    return json_response(page(urls, "/v1/models", results, next_cursor))


@router.api_route("/v1/models", methods=["QUERY"])
async def search_models(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    raw = (await request.body()).decode(errors="replace").strip()
    try:
        parsed = parse_json(raw, platform.settings.max_json_depth)
        query = parsed if isinstance(parsed, str) else raw
    except json.JSONDecodeError:
        query = raw
    if not query:
        raise BadRequest("The search text is required in the request body.")
    rows, next_cursor = await service.list_models(platform, account, cursor=None, query=query)
    results = [await service.render_model(platform, r, urls) for r in rows]
    return json_response(page(urls, "/v1/models", results, next_cursor))


@router.post("/v1/models")
async def create_model(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    body = parse_body(service.CreateModel, await read_json(request))
    row = await service.create_model(platform, account, body)
    return json_response(await service.render_model(platform, row, urls), status=201)


@router.get("/v1/models/{owner}/{name}")
async def get_model(
    owner: str, name: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    row = await service.get_model(platform, account, owner, name)
    return json_response(await service.render_model(platform, row, urls))


@router.delete("/v1/models/{owner}/{name}")
async def delete_model(
    owner: str, name: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    await service.delete_model(platform, account, owner, name)
    return Response(status_code=204)


@router.get("/v1/models/{owner}/{name}/versions")
async def list_versions(
    owner: str,
    name: str,
    request: Request,
    platform: PlatformDep,
    account: CurrentAccount,
    urls: UrlsDep,
) -> Response:
    rows, next_cursor = await service.list_versions(
        platform, account, owner, name, cursor=request.query_params.get("cursor")
    )
    results = [service.render_version(r) for r in rows]
    return json_response(page(urls, f"/v1/models/{owner}/{name}/versions", results, next_cursor))


@router.get("/v1/models/{owner}/{name}/versions/{version_id}")
async def get_version(
    owner: str, name: str, version_id: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    row = await service.get_version(platform, account, owner, name, version_id)
    return json_response(service.render_version(row))


@router.delete("/v1/models/{owner}/{name}/versions/{version_id}")
async def delete_version(
    owner: str, name: str, version_id: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    await service.delete_version(platform, account, owner, name, version_id)
    return Response(status_code=202)


@router.post("/v1/models/{owner}/{name}/versions")
async def push_version(
    owner: str, name: str, request: Request, platform: PlatformDep, account: CurrentAccount
) -> Response:
    """Upload a bundle (a .tar.gz of a Cog directory) and build it into a version.

    With `Accept: application/x-ndjson` the build log streams as JSON lines
    (`{"type":"log","line":...}`), ending with `{"type":"version",...}` or
    `{"type":"error",...}`; otherwise the response is the version once built, or problem+json.
    `?weights=PATH_OR_URL` records weights for the model's `setup(weights)` (COG_WEIGHTS).
    """
    length = int(request.headers.get("content-length") or 0)
    if length > versions_service.MAX_BUNDLE_BYTES:
        raise PayloadTooLarge(versions_service.BUNDLE_TOO_LARGE)
    # Received and unpacked within the bundle limits before any response starts, so a
    # refused bundle is a plain problem+json answer even when the build log streams.
    staged = await versions_service.stage_push(
        platform,
        account,
        owner,
        name,
        request.stream(),
        weights=request.query_params.get("weights"),
    )
    if "ndjson" not in request.headers.get("accept", ""):
        try:
            row = await versions_service.build_staged(platform, staged, lambda _l: None)
        finally:
            await staged.discard()
        return json_response(service.render_version(row), status=201)
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def build() -> None:
        try:
            row = await versions_service.build_staged(
                platform, staged, lambda line: lines.put_nowait({"type": "log", "line": line})
            )
            lines.put_nowait({"type": "version", "version": service.render_version(row)})
        except ModelyardError as exc:
            lines.put_nowait(
                {"type": "error", **exc.to_problem(), "logs": getattr(exc, "logs", "")}
            )
        except Exception as exc:  # reported to the client; the server log has the traceback
            lines.put_nowait(
                {"type": "error", "title": "Build failed", "status": 500, "detail": str(exc)}
            )
        finally:
            await staged.discard()
            lines.put_nowait(None)

    task = asyncio.ensure_future(build())  # keeps building if the client goes away

    async def stream() -> AsyncIterator[bytes]:
        while (item := await lines.get()) is not None:
            yield (json.dumps(item) + "\n").encode()
        await task

    return StreamingResponse(stream(), status_code=201, media_type="application/x-ndjson")
