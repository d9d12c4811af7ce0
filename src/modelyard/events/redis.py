"""The Redis event bus of cluster mode: a stream per prediction, shared by every process.

Keys (under a prefix): `ev:{<id>}` is a prediction's stream (fields kind, data as JSON, ts),
kept `done_ttl` seconds after `done` (`live_ttl` while it runs); `event-signals` is a capped
stream naming the prediction of each publish and each cancel request. Every process follows it
with one blocking read and wakes its own subscribers and waiters, which then read the
prediction's stream: replay and live events come from the same place. `publish` buffers and
one task sends the buffer in order, a pipeline at a time, retrying while Redis is away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

from modelyard._redis import UNAVAILABLE, connect, follow, text
from modelyard.core.tasks import cancel_all
from modelyard.events.base import DONE, Event, EventBus

logger = logging.getLogger(__name__)

POLL = 1.0  # a waiter reads its stream again this often even without a signal
SIGNALS_KEPT = 10_000
OUTBOX_MAX = 100_000  # events buffered while Redis is away; beyond, the oldest are dropped
MAX_BACKOFF = 2.0
PAGE = 500
OPENED = "opened"  # the marker `open` writes

# What XRANGE answers.
_Entry = tuple[bytes, dict[bytes, bytes]]


class RedisEventBus(EventBus):
    """Events and cancel requests in Redis Streams."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "modelyard:",
        done_ttl: float = 3600.0,
        live_ttl: float = 24 * 3600.0,
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.done_ttl = int(done_ttl)
        self.live_ttl = int(live_ttl)
        self._signals_key = f"{prefix}event-signals"
        self._redis = connect(url)
        self._outbox: deque[tuple[str, str, str, float]] = deque()
        self._sent = asyncio.Event()  # set whenever the outbox empties
        self._pending = asyncio.Event()
        self._seq: dict[str, int] = {}
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def key(self, prediction_id: str) -> str:
        return f"{self.prefix}ev:{{{prediction_id}}}"

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._send_loop()),
                asyncio.ensure_future(
                    follow(self._redis, self._signals_key, self._signalled, self._wake_all)
                ),
            ]

    async def close(self) -> None:
        await self.flush(timeout=5.0)
        await cancel_all(self._tasks)
        self._tasks = []
        await self._redis.aclose()

    # -- publishing ------------------------------------------------------------------------------

    def open(self, prediction_id: str) -> None:
        """A marker entry, so `has_history` holds before the first event (never yielded)."""
        self._push(prediction_id, OPENED, "null", time.time())

    def publish(self, prediction_id: str, kind: str, data: Any = None) -> Event:
        seq = self._seq.get(prediction_id, 0)
        if kind == DONE:
            self._seq.pop(prediction_id, None)
        else:
            self._seq[prediction_id] = seq + 1
        event = Event(seq=seq, kind=kind, data=data, ts=time.time())
        self._push(prediction_id, kind, json.dumps(data), event.ts)
        return event

    def _push(self, prediction_id: str, kind: str, data: str, ts: float) -> None:
        if len(self._outbox) >= OUTBOX_MAX:
            dropped = self._outbox.popleft()
            logger.error("event outbox full: dropped a %s event of %s", dropped[1], dropped[0])
        self._outbox.append((prediction_id, kind, data, ts))
        self._sent.clear()
        self._pending.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far is in Redis; False on timeout."""
        if not self._outbox:
            return True
        try:
            await asyncio.wait_for(self._sent.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _send_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._outbox:
                batch = list(self._outbox)
                try:
                    await self._send(batch)
                    backoff = 0.05
                except UNAVAILABLE as exc:
                    logger.warning("event bus: Redis unavailable (%s), retrying", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(MAX_BACKOFF, backoff * 2)
                    continue
                for _ in batch:
                    self._outbox.popleft()
                self._wake_local({pid for pid, *_ in batch})
            self._sent.set()

    async def _send(self, batch: list[tuple[str, str, str, float]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid, kind, data, ts in batch:
                key = self.key(pid)
                pipe.xadd(key, {"k": kind, "d": data, "t": repr(ts)})
                pipe.expire(key, self.done_ttl if kind == DONE else self.live_ttl)
            for pid in dict.fromkeys(pid for pid, *_ in batch):
                pipe.xadd(self._signals_key, {"p": pid}, maxlen=SIGNALS_KEPT, approximate=True)
            await pipe.execute()

    # -- reading ---------------------------------------------------------------------------------

    async def has_history(self, prediction_id: str) -> bool:
        return bool(await self._redis.exists(self.key(prediction_id)))

    async def subscribe(self, prediction_id: str) -> AsyncIterator[Event]:
        key, last, seq = self.key(prediction_id), "-", 0
        with self._watching(prediction_id) as signal:
            while True:
                signal.clear()
                page = await self._read(key, last)
                for entry_id, fields in page:
                    last = "(" + text(entry_id)
                    if fields[b"k"] == OPENED.encode():
                        continue
                    event = _event(seq, fields)
                    seq += 1
                    yield event
                    if event.kind == DONE:
                        return
                if len(page) < PAGE:
                    await _wait(signal, POLL)

    async def wait_done(self, prediction_id: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self._watching(prediction_id) as signal:
            while True:
                signal.clear()
                if await self._is_done(prediction_id):
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                await _wait(signal, min(POLL, remaining))

    async def _is_done(self, prediction_id: str) -> bool:
        try:
            last = cast(list[_Entry], await self._redis.xrevrange(self.key(prediction_id), count=1))
        except UNAVAILABLE as exc:
            logger.warning("event bus: Redis unavailable (%s)", exc)
            return False
        return bool(last) and text(last[0][1][b"k"]) == DONE

    async def _read(self, key: str, after: str) -> list[_Entry]:
        try:
            return cast(list[_Entry], await self._redis.xrange(key, min=after, count=PAGE))
        except UNAVAILABLE as exc:
            logger.warning("event bus: Redis unavailable (%s)", exc)
            return []

    # -- cancel requests -------------------------------------------------------------------------

    async def request_cancel(self, prediction_id: str) -> None:
        await self._redis.xadd(
            self._signals_key, {"c": prediction_id}, maxlen=SIGNALS_KEPT, approximate=True
        )

    # -- following the signal stream -------------------------------------------------------------

    def _signalled(self, fields: dict[bytes, bytes]) -> None:
        if b"p" in fields:
            self._wake_local({text(fields[b"p"])})
        elif b"c" in fields:
            self._cancel_requested(text(fields[b"c"]))

    def _wake_all(self) -> None:
        self._wake_local(set(self._watchers))  # events may have come while Redis was away

    def _wake_local(self, prediction_ids: set[str]) -> None:
        for pid in prediction_ids:
            for signal in self._watchers.get(pid, ()):
                signal.set()

    def _watching(self, prediction_id: str) -> _Watch:
        return _Watch(self._watchers, prediction_id)


class _Watch:
    """A waiter's signal, registered for one prediction while the `with` block runs."""

    def __init__(self, watchers: dict[str, set[asyncio.Event]], prediction_id: str) -> None:
        self.watchers, self.prediction_id = watchers, prediction_id
        self.signal = asyncio.Event()

    def __enter__(self) -> asyncio.Event:
        self.watchers.setdefault(self.prediction_id, set()).add(self.signal)
        return self.signal

    def __exit__(self, *exc: object) -> None:
        signals = self.watchers.get(self.prediction_id)
        if signals is not None:
            signals.discard(self.signal)
            if not signals:
                del self.watchers[self.prediction_id]


async def _wait(signal: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(signal.wait(), timeout)
    except TimeoutError:
        pass


def _event(seq: int, fields: dict[bytes, bytes]) -> Event:
    return Event(
        seq=seq,
        kind=text(fields[b"k"]),
        data=json.loads(fields[b"d"]),
        ts=float(fields[b"t"]),
    )
