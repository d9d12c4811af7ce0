"""Routes: /v1/predictions and the model-scoped create endpoint."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.accounts import Account
from modelyard.api.deps import (
    CurrentAccount,
    PlatformDep,
    UrlsDep,
    json_response,
    parse_body,
    read_json,
)
from modelyard.api.pagination import page
from modelyard.core.errors import BadRequest
from modelyard.core.timeutil import isoformat, parse_iso
from modelyard.services import predictions as service
from modelyard.services.catalog import VersionInfo
from modelyard.services.platform import Platform
from modelyard.services.urls import Urls

router = APIRouter()

PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait(?:=(\d+))?(?:$|[,;\s])")
MAX_WAIT = 60


def parse_prefer(header: str | None) -> int | None:
    """Seconds to hold a create request: `Prefer: wait` → 60, `wait=N` → N (clamped to 60)."""
    if not header:
        return None
    match = PREFER_WAIT.search(header.strip())
    if match is None:
        return None
    digits = (match[1] or str(MAX_WAIT)).lstrip("0") or "0"
    seconds = int(digits) if len(digits) <= 3 else MAX_WAIT  # wait=<5000 digits> is no 500
    return max(1, min(seconds, MAX_WAIT))


async def create_and_respond(
    platform: Platform,
    account: Account,
    urls: Urls,
    request: Request,
    version: VersionInfo,
    body: service.CreatePrediction,
    *,
    deployment: str | None = None,
    queue: str | None = None,
    hardware: str | None = None,
) -> Response:
    started = time.monotonic()
    wait = parse_prefer(request.headers.get("prefer"))
    created = await service.create_prediction(
        platform, account, version, body, deployment=deployment, queue=queue, hardware=hardware
    )
    row = created.row
    headers: dict[str, str] = {}
    if wait is not None:
        headers["Preference-Applied"] = (
            f"wait={wait}" if "=" in request.headers.get("prefer", "") else "wait"
        )
        remaining = wait - 0.5 - (time.monotonic() - started)
        if remaining > 0 and await platform.bus.wait_done(row["id"], remaining):
            row = await service.final_prediction(platform, account, row["id"])
    body_json = service.render_prediction(row, urls, sync_unfinished=wait is not None)
    headers["Location"] = body_json["urls"]["get"]
    return json_response(body_json, status=201, headers=headers)


@router.post("/v1/predictions")
async def create_prediction(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    body = parse_body(service.CreatePrediction, await read_json(request))
    if body.version is None:
        raise BadRequest(
            "The request must name a `version` (a version id, owner/name:id or owner/name)."
        )
    async with platform.db.connect() as conn:
        version = await platform.catalog.resolve(conn, account, body.version, building_ok=True)
    return await create_and_respond(platform, account, urls, request, version, body)


@router.post("/v1/models/{owner}/{name}/predictions")
async def create_model_prediction(
    owner: str,
    name: str,
    request: Request,
    platform: PlatformDep,
    account: CurrentAccount,
    urls: UrlsDep,
) -> Response:
    body = parse_body(service.CreatePrediction, await read_json(request))
    async with platform.db.connect() as conn:
        version = await platform.catalog.resolve_model(conn, account, owner, name)
    return await create_and_respond(platform, account, urls, request, version, body)


@router.get("/v1/predictions")
async def list_predictions(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    params = request.query_params
    try:
        after = parse_iso(params["created_after"]) if "created_after" in params else None
        before = parse_iso(params["created_before"]) if "created_before" in params else None
    except ValueError as exc:
        raise BadRequest("created_after and created_before must be ISO 8601 timestamps.") from exc
    rows, next_cursor = await service.list_predictions(
        platform,
        account,
        cursor=params.get("cursor"),
        created_after=after,
        created_before=before,
        source=params.get("source"),
    )
    filters = {
        k: v for k, v in params.items() if k in ("created_after", "created_before", "source")
    }
    results = [service.render_prediction(r, urls) for r in rows]
    return json_response(page(urls, "/v1/predictions", results, next_cursor, filters))


@router.get("/v1/predictions/{prediction_id}")
async def get_prediction(
    prediction_id: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    row = await service.get_prediction(platform, account, prediction_id)
    return json_response(
        service.render_prediction(row, urls), headers={"Cache-Control": "no-store"}
    )


@router.post("/v1/predictions/{prediction_id}/cancel")
async def cancel_prediction(
    prediction_id: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    row = await service.cancel_prediction(platform, account, prediction_id)
    return json_response(service.render_prediction(row, urls))


@router.get("/v1/predictions/{prediction_id}/webhooks")
async def list_webhook_attempts(
    prediction_id: str, platform: PlatformDep, account: CurrentAccount
) -> Response:
    """Extension: every webhook delivery attempt of a prediction, oldest first."""
    await service.get_prediction(platform, account, prediction_id)
    attempts = await platform.webhooks.attempts(prediction_id)
    return json_response(
        {
            "results": [
                {
                    "webhook_id": a["message_id"],
                    "event": a["event"],
                    "attempt": a["attempt"],
                    "at": isoformat(a["at"]),
                    "status_code": a["status_code"],
                    "latency_ms": a["latency_ms"],
                    "error": a["error"],
                }
                for a in attempts
            ]
        }
    )
