"""A prediction's event stream for SSE clients: live events with replay, or the stored record."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.core.states import Status
from modelyard.events import DONE, ERROR, LOGS, OUTPUT
from modelyard.services.urls import Urls
from modelyard.store import predictions as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

# Stream URLs stop working this long after the prediction finished.
STREAM_TTL = 24 * 3600


async def open_stream(platform: Platform, prediction_id: str, token: str) -> dict[str, Any]:
    """The prediction a stream URL names, if the URL is valid and has not expired."""
    async with platform.db.connect() as conn:
        row = await store.find_prediction(conn, prediction_id)
    if (
        row is None
        or not row["stream_token"]
        or not secrets.compare_digest(row["stream_token"], token)
    ):
        raise NotFound("This stream does not exist.")
    if (
        row["completed_at"] is not None
        and time.time() - row["completed_at"].timestamp() > STREAM_TTL
    ):
        raise NotFound("This stream has expired.")
    return row


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def stream_events(
    platform: Platform, row: dict[str, Any], urls: Urls
) -> AsyncIterator[tuple[str, str, int, float]]:
    """(event name, data, sequence, timestamp) in Replicate's SSE vocabulary, ending with done."""
    prediction_id = row["id"]
    if row.get("data_removed"):  # retention removed its output and logs: only the end is left
        yield "done", _done_payload(row["status"]), 0, time.time()
        return
    # A prediction still running has its events on the bus, or soon will (a shared bus may not
    # hold its first one yet): follow it. A finished one only while the bus keeps its history.
    live = not Status(row["status"]).terminal
    if live or await platform.bus.has_history(prediction_id):
        async for event in platform.bus.subscribe(prediction_id):
            if event.kind == OUTPUT:
                yield "output", _text(urls.render_output(event.data)), event.seq, event.ts
            elif event.kind == LOGS:
                yield "logs", event.data, event.seq, event.ts
            elif event.kind == ERROR:
                yield "error", json.dumps(event.data), event.seq, event.ts
            elif event.kind == DONE:
                yield "done", _done_payload(event.data.get("status", "")), event.seq, event.ts
        return
    # Finished long ago (or before a restart): replay what the store kept.
    async for item in _replay_stored(platform, prediction_id, urls):
        yield item


async def _replay_stored(
    platform: Platform, prediction_id: str, urls: Urls
) -> AsyncIterator[tuple[str, str, int, float]]:
    async with platform.db.connect() as conn:
        row = await store.find_prediction(conn, prediction_id)
    assert row is not None
    ts = time.time()
    seq = 0
    output = urls.render_output(row["output"])
    for item in output if isinstance(output, list) else ([] if output is None else [output]):
        yield "output", _text(item), seq, ts
        seq += 1
    if row["logs"]:
        yield "logs", row["logs"], seq, ts
        seq += 1
    if not Status(row["status"]).terminal:
        # A live prediction whose history this process does not hold (another replica's).
        return
    if row["status"] == Status.FAILED.value:
        yield "error", json.dumps({"detail": row["error"] or "Prediction failed"}), seq, ts
        seq += 1
    yield "done", _done_payload(row["status"]), seq, ts


def _done_payload(status: str) -> str:
    if status == Status.CANCELED.value:
        return json.dumps({"reason": "canceled"})
    if status == Status.FAILED.value:
        return json.dumps({"reason": "error"})
    return "{}"


async def with_keepalive(
    chunks: AsyncIterator[bytes], every: float, keepalive: bytes
) -> AsyncIterator[bytes]:
    """`chunks` as they come, with `keepalive` whenever none came for `every` seconds (so
    proxies and clients keep a quiet stream open)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for chunk in chunks:
                queue.put_nowait(chunk)
        finally:
            queue.put_nowait(None)

    task = asyncio.ensure_future(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), every)
            except TimeoutError:
                yield keepalive
                continue
            if item is None:
                return
            yield item
    finally:
        task.cancel()
