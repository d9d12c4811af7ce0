"""The event-bus contract: per-prediction events with replay for late subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

# Event kinds. output/logs/error/done are what the SSE stream carries; status is for waiters.
OUTPUT, LOGS, ERROR, DONE, STATUS = "output", "logs", "error", "done", "status"


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    data: Any
    ts: float


class EventBus:
    """Fan-out of a prediction's events to SSE subscribers, webhooks and sync waiters.

    `subscribe` yields every event from the first one (replay), then live ones, and ends
    after `done`. `has_history` says whether the bus still holds a prediction's events.
    `publish` never waits: a shared bus (Redis) sends in the background, in publish order.

    Cancel requests travel on the bus too: `request_cancel` reaches every process's
    `cancel_requests` (the one running the prediction cancels it), whichever process asked.
    """

    _cancel_listeners: set[asyncio.Queue[str]]

    def __init__(self) -> None:
        self._cancel_listeners = set()

    def open(self, prediction_id: str) -> None:
        """Start keeping a prediction's history (called when it is created)."""

    def publish(self, prediction_id: str, kind: str, data: Any = None) -> Event:
        raise NotImplementedError

    def subscribe(self, prediction_id: str) -> AsyncIterator[Event]:
        raise NotImplementedError

    async def has_history(self, prediction_id: str) -> bool:
        raise NotImplementedError

    async def wait_done(self, prediction_id: str, timeout: float) -> bool:
        """Wait until the prediction is terminal; False on timeout."""
        raise NotImplementedError

    async def request_cancel(self, prediction_id: str) -> None:
        """Ask whichever process runs the prediction to cancel it."""
        raise NotImplementedError

    async def cancel_requests(self) -> AsyncIterator[str]:
        """Prediction ids whose cancel was requested (anywhere) from now on; never ends."""
        listener: asyncio.Queue[str] = asyncio.Queue()
        self._cancel_listeners.add(listener)
        try:
            while True:
                yield await listener.get()
        finally:
            self._cancel_listeners.discard(listener)

    def _cancel_requested(self, prediction_id: str) -> None:
        """Hand a cancel request (from this process or another) to every listener here."""
        for listener in self._cancel_listeners:
            listener.put_nowait(prediction_id)

    async def start(self) -> None:
        """Open connections and start background work (a no-op where there is none)."""

    async def close(self) -> None:
        """Send what is still buffered, stop background work, close connections."""
