"""The in-process event bus of the embedded mode."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from modelyard.events.base import DONE, Event, EventBus

FINISHED_KEPT = 2000


class _Channel:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = asyncio.Event()  # replaced after every publish
        self.done = asyncio.Event()


class LocalEventBus(EventBus):
    """Keeps every event of live predictions and of the last few thousand finished ones."""

    def __init__(self) -> None:
        super().__init__()
        self._channels: dict[str, _Channel] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()

    def _channel(self, prediction_id: str) -> _Channel:
        channel = self._channels.get(prediction_id)
        if channel is None:
            channel = self._channels[prediction_id] = _Channel()
        return channel

    def open(self, prediction_id: str) -> None:
        self._channel(prediction_id)

    def publish(self, prediction_id: str, kind: str, data: Any = None) -> Event:
        channel = self._channel(prediction_id)
        event = Event(seq=len(channel.events), kind=kind, data=data, ts=time.time())
        channel.events.append(event)
        if kind == DONE:
            channel.done.set()
            self._finished[prediction_id] = None
            while len(self._finished) > FINISHED_KEPT:
                old, _ = self._finished.popitem(last=False)
                self._channels.pop(old, None)
        changed, channel.changed = channel.changed, asyncio.Event()
        changed.set()
        return event

    async def has_history(self, prediction_id: str) -> bool:
        return prediction_id in self._channels

    async def subscribe(self, prediction_id: str) -> AsyncIterator[Event]:
        channel = self._channel(prediction_id)
        index = 0
        while True:
            while index < len(channel.events):
                event = channel.events[index]
                index += 1
                yield event
                if event.kind == DONE:
                    return
            changed = channel.changed
            if index >= len(channel.events):
                await changed.wait()

    async def wait_done(self, prediction_id: str, timeout: float) -> bool:
        channel = self._channel(prediction_id)
        if channel.done.is_set():
            return True
        try:
            await asyncio.wait_for(channel.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def request_cancel(self, prediction_id: str) -> None:
        self._cancel_requested(prediction_id)
