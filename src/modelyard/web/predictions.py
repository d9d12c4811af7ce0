"""Pages: the predictions list, a prediction's page, its live panel and events, cancel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from modelyard.accounts import Account
from modelyard.core.states import Status
from modelyard.services import predictions as service
from modelyard.services import streams as streams_service
from modelyard.services.platform import Platform
from modelyard.web._route import PageRoute
from modelyard.web.render import fragment, page
from modelyard.web.security import Checked, SignedIn, platform_of

router = APIRouter(route_class=PageRoute)

STATUSES = tuple(s.value for s in Status)
SOURCES = ("api", "web")
KEEPALIVE_EVERY = 15.0


@router.get("/predictions")
async def list_page(request: Request, viewer: SignedIn) -> Response:
    platform = platform_of(request)
    params = request.query_params
    filters = {
        "model": (params.get("model") or "").strip() or None,
        "status": params.get("status") if params.get("status") in STATUSES else None,
        "source": params.get("source") if params.get("source") in SOURCES else None,
    }
    rows, next_cursor = await service.list_predictions(
        platform,
        viewer,
        cursor=params.get("cursor") or None,
        model=filters["model"],
        status=filters["status"],
        source=filters["source"],
    )
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return page(
        request,
        "predictions.html",
        predictions=rows,
        filters=filters,
        statuses=STATUSES,
        sources=SOURCES,
        next_url=f"/predictions?{query}&cursor={next_cursor}" if next_cursor else None,
    )


async def panel_context(
    platform: Platform, viewer: Account, request: Request, prediction_id: str
) -> dict[str, Any]:
    row = await service.get_prediction(platform, viewer, prediction_id)
    urls = platform.urls(str(request.base_url))
    shown = service.render_prediction(row, urls)
    return dict(
        p=shown, iterator=bool(row.get("stream_token")), done=Status(row["status"]).terminal
    )


@router.get("/p/{prediction_id}")
async def detail(prediction_id: str, request: Request, viewer: SignedIn) -> Response:
    platform = platform_of(request)
    context = await panel_context(platform, viewer, request, prediction_id)
    deliveries = await platform.webhooks.attempts(prediction_id)
    return page(request, "prediction.html", deliveries=deliveries, **context)


@router.get("/p/{prediction_id}/live")
async def live(prediction_id: str, request: Request, viewer: SignedIn) -> Response:
    """The prediction's panel (status, timings, cost, output, logs), for the page's script."""
    context = await panel_context(platform_of(request), viewer, request, prediction_id)
    html = fragment("_panel.html", csrf=request.state.csrf, **context)
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "X-Done": str(context["done"]).lower()}
    )


@router.get("/p/{prediction_id}/events")
async def events(prediction_id: str, request: Request, viewer: SignedIn) -> Response:
    """Server-sent events for the page: output (tokens as they come), logs, done."""
    platform = platform_of(request)
    row = await service.get_prediction(platform, viewer, prediction_id)
    urls = platform.urls(str(request.base_url))

    async def chunks() -> AsyncIterator[bytes]:
        async for name, data, _seq, _ts in streams_service.stream_events(platform, row, urls):
            yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    return StreamingResponse(
        streams_service.with_keepalive(chunks(), KEEPALIVE_EVERY, b": keep-alive\n\n"),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/p/{prediction_id}/cancel")
async def cancel(prediction_id: str, request: Request, viewer: SignedIn, _c: Checked) -> Response:
    platform = platform_of(request)
    row = await service.cancel_prediction(platform, viewer, prediction_id)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": row["id"], "status": row["status"]})
    return RedirectResponse(f"/p/{prediction_id}", status_code=303)
