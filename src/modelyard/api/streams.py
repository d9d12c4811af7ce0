"""Route: a prediction's SSE stream, authorized by its capability URL alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelyard.api.deps import PlatformDep, UrlsDep
from modelyard.api.sse import KEEPALIVE, event_id, format_event, last_sequence
from modelyard.services import streams as service

router = APIRouter()

KEEPALIVE_EVERY = 15.0


@router.get("/v1/streams/{prediction_id}/{token}")
async def stream(
    prediction_id: str, token: str, request: Request, platform: PlatformDep, urls: UrlsDep
) -> Response:
    row = await service.open_stream(platform, prediction_id, token)
    # A client that reconnects sends the id of the last event it got: resume after it.
    after = last_sequence(request.headers.get("last-event-id"))

    async def chunks() -> AsyncIterator[bytes]:
        async for name, data, seq, ts in service.stream_events(platform, row, urls):
            if after is None or seq > after:
                yield format_event(name, data, event_id(seq, ts))

    return StreamingResponse(
        service.with_keepalive(chunks(), KEEPALIVE_EVERY, KEEPALIVE),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
