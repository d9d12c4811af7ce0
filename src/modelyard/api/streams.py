"""Route: a prediction's SSE stream, authorized by its capability URL alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelyard.api.deps import PlatformDep, UrlsDep
from modelyard.api.sse import KEEPALIVE, event_id, format_event
from modelyard.services import streams as service

router = APIRouter()

KEEPALIVE_EVERY = 15.0


@router.get("/v1/streams/{prediction_id}/{token}")
async def stream(
    prediction_id: str, token: str, request: Request, platform: PlatformDep, urls: UrlsDep
) -> Response:
    row = await service.open_stream(platform, prediction_id, token)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for name, data, seq, ts in service.stream_events(platform, row, urls):
                queue.put_nowait(format_event(name, data, event_id(seq, ts)))
        finally:
            queue.put_nowait(None)

    async def body() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(pump())
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), KEEPALIVE_EVERY)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if chunk is None:
                    return
                yield chunk
        finally:
            task.cancel()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
