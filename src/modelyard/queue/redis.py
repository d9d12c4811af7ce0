"""The Redis Streams queue of cluster mode: shared by every API and worker process.

Each queue keeps a stream per owner in one consumer group (`workers`); a lease takes the next
entry of the next owner in rotation, so one owner's burst never starves another. A leased entry
stays in this consumer's pending list until `ack`; a background task renews this consumer's
leases every `lease_ttl / 3` seconds and puts back what other consumers leased and left unrenewed
for `lease_ttl` (a dead process), so it runs elsewhere. Losing Redis (a restart) is survived:
commands retry with backoff, and the loops reconnect. See `_redis_scripts` for the keys.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass

from modelyard._redis import UNAVAILABLE, connect, follow, text
from modelyard.core.errors import ServiceUnavailable
from modelyard.core.tasks import cancel_all
from modelyard.queue import _redis_scripts as scripts
from modelyard.queue.base import Queue, QueueItem

logger = logging.getLogger(__name__)

POLL = 1.0  # a blocking lease looks again this often even without a signal
MAX_BACKOFF = 2.0


class QueueUnavailable(ServiceUnavailable):
    """Redis did not answer (it restarts, or the network is down)."""

    def __init__(self) -> None:
        super().__init__(
            "The work queue is unavailable right now. Try again shortly.",
            headers={"Retry-After": "5"},
        )


@dataclass(frozen=True)
class _Lease:
    queue: str
    owner: str
    entry: str


def demand_stream(hardware: str, prefix: str = "modelyard:") -> str:
    """The stream whose consumer-group lag is how many items of a hardware class wait."""
    return f"{prefix}demand:{hardware}"


def default_consumer() -> str:
    """A consumer name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class RedisQueue(Queue):
    """Queues in Redis Streams; `consumer` names this process in the consumer groups."""

    def __init__(
        self,
        url: str,
        *,
        consumer: str | None = None,
        prefix: str = "modelyard:",
        lease_ttl: float = 30.0,
    ) -> None:
        self.consumer = consumer or default_consumer()
        self.lease_ttl = lease_ttl
        self.keys = scripts.Keys(prefix)
        self.changed = asyncio.Event()
        self._redis = connect(url)
        self._enqueue = self._redis.register_script(scripts.ENQUEUE)
        self._lease = self._redis.register_script(scripts.LEASE)
        self._ack = self._redis.register_script(scripts.ACK)
        self._remove = self._redis.register_script(scripts.REMOVE)
        self._reclaim = self._redis.register_script(scripts.RECLAIM)
        self._demand_add = self._redis.register_script(scripts.DEMAND_ADD)
        self._demand_take = self._redis.register_script(scripts.DEMAND_TAKE)
        self._leases: dict[str, _Lease] = {}
        self._signals: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(
                    follow(self._redis, self.keys.signals, self._woken, self._wake_all)
                ),
                asyncio.ensure_future(self._maintain()),
            ]

    async def close(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []
        await self._redis.aclose()

    # -- the contract ----------------------------------------------------------------------------

    async def enqueue(self, item: QueueItem) -> None:
        q = item.queue
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._enqueue(
                    keys=self.keys.of(q),
                    args=[
                        item.prediction_id,
                        item.owner,
                        repr(item.enqueued_at),
                        scripts.GROUP,
                        self.keys.stream_prefix(q),
                        item.hardware,
                    ],
                    client=pipe,
                )
                pipe.sadd(self.keys.queues, q)
                pipe.hset(self.keys.where, item.prediction_id, q)
                pipe.xadd(
                    self.keys.signals, {"q": q}, maxlen=scripts.SIGNALS_KEPT, approximate=True
                )
                added, *_ = await pipe.execute()
            if added:
                await self._demand(item.hardware, +1)
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc
        self._wake(q)

    async def lease(self, queue: str, timeout: float | None = None) -> QueueItem | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        backoff = 0.05
        while True:
            signal = self._signals.setdefault(queue, asyncio.Event())
            signal.clear()
            try:
                item = await self._lease_now(queue)
                backoff = 0.05
            except UNAVAILABLE as exc:
                logger.warning("queue %s: Redis unavailable (%s), retrying", queue, exc)
                item, wait = None, backoff
                backoff = min(MAX_BACKOFF, backoff * 2)
            else:
                wait = POLL
            if item is not None:
                return item
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(signal.wait(), min(wait, remaining or wait))
            except TimeoutError:
                pass

    async def _lease_now(self, queue: str) -> QueueItem | None:
        got = await self._lease(
            keys=self.keys.of(queue)[:4],
            args=[scripts.GROUP, self.consumer, self.keys.stream_prefix(queue)],
        )
        if not got:
            return None
        entry, pid, owner, at, hardware = (text(v) for v in got)
        self._leases[pid] = _Lease(queue, owner, entry)
        await self._demand(hardware, -1)
        return QueueItem(pid, queue, owner, float(at), hardware)

    async def ack(self, prediction_id: str) -> None:
        lease = self._leases.pop(prediction_id, None)
        try:
            queue = lease.queue if lease else await self._queue_of(prediction_id)
            if queue is None:
                return
            acked = await self._ack(
                keys=self.keys.of(queue)[:2],
                args=[
                    scripts.GROUP,
                    prediction_id,
                    self.keys.stream_prefix(queue),
                    lease.entry if lease else "",
                ],
            )
            if acked:
                await self._redis.hdel(self.keys.where, prediction_id)
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc

    async def remove(self, prediction_id: str) -> bool:
        try:
            queue = await self._queue_of(prediction_id)
            if queue is None:
                return False
            removed = await self._remove(
                keys=self.keys.of(queue)[:4],
                args=[prediction_id, self.keys.stream_prefix(queue)],
            )
            if removed:
                await self._redis.hdel(self.keys.where, prediction_id)
                await self._demand(text(removed[0]), -1)
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc
        return bool(removed)

    async def depth(self, queue: str) -> int:
        try:
            return int(await self._redis.zcard(self.keys.of(queue)[1]))
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc

    async def oldest_age(self, queue: str, now: float) -> float:
        try:
            head = await self._redis.zrange(self.keys.of(queue)[1], 0, 0, withscores=True)
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc
        return max(0.0, now - float(head[0][1])) if head else 0.0

    async def queues(self) -> list[str]:
        try:
            names = sorted(text(n) for n in await self._redis.smembers(self.keys.queues))
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.zcard(self.keys.of(name)[1])
                depths = await pipe.execute()
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc
        return [name for name, depth in zip(names, depths, strict=True) if depth]

    async def reclaim(self, min_idle: float | None = None) -> list[str]:
        idle = self.lease_ttl if min_idle is None else min_idle
        return await self._reclaim_all(int(idle * 1000), lost="")

    async def reclaim_from(self, consumer: str) -> list[str]:
        """Put back at once everything `consumer` (a lost worker) leased and never acked."""
        return await self._reclaim_all(0, lost=consumer)

    # -- background work -------------------------------------------------------------------------

    async def _reclaim_all(self, min_idle_ms: int, *, lost: str) -> list[str]:
        back: list[str] = []
        try:
            for raw in await self._redis.smembers(self.keys.queues):
                queue = text(raw)
                keys = self.keys.of(queue)
                for owner in await self._redis.smembers(keys[4]):
                    got = await self._reclaim(
                        keys=keys,
                        args=[
                            scripts.GROUP,
                            self.consumer,
                            min_idle_ms,
                            self.keys.stream_prefix(queue),
                            text(owner),
                            lost,
                        ],
                    )
                    for pid, hardware in zip(got[::2], got[1::2], strict=True):
                        back.append(text(pid))
                        await self._demand(text(hardware), +1)
                    if got:
                        self._wake(queue)
        except UNAVAILABLE as exc:
            raise QueueUnavailable() from exc
        if back:
            logger.warning("put %d unacked leases back on their queues: %s", len(back), back)
        return back

    async def _demand(self, hardware: str, change: int) -> None:
        """One more (or one fewer) item of `hardware` waits: its demand stream follows."""
        if not hardware:
            return
        key = demand_stream(hardware, self.keys.prefix)
        if change > 0:
            await self._demand_add(keys=[key], args=[scripts.GROUP])
        else:
            await self._demand_take(keys=[key], args=[scripts.GROUP, self.consumer])

    async def _renew(self) -> None:
        """Reset the idle time of this consumer's leases, so nobody reclaims them."""
        leases = list(self._leases.values())
        if not leases:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for lease in leases:
                stream = self.keys.stream_prefix(lease.queue) + lease.owner
                pipe.xclaim(stream, scripts.GROUP, self.consumer, 0, [lease.entry], justid=True)
            await pipe.execute(raise_on_error=False)

    async def _maintain(self) -> None:
        every = max(0.05, self.lease_ttl / 3)
        next_reclaim = time.monotonic() + self.lease_ttl / 2
        while True:
            await asyncio.sleep(every)
            try:
                await self._renew()
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self.lease_ttl / 2
                    await self.reclaim()
            except (*UNAVAILABLE, QueueUnavailable) as exc:
                logger.warning("queue upkeep failed (Redis unavailable?): %s", exc.__cause__ or exc)

    def _woken(self, fields: dict[bytes, bytes]) -> None:
        self._wake(text(fields[b"q"]))

    def _wake_all(self) -> None:
        self.changed.set()
        for signal in self._signals.values():
            signal.set()

    def _wake(self, queue: str) -> None:
        self.changed.set()
        signal = self._signals.get(queue)
        if signal is not None:
            signal.set()

    async def _queue_of(self, prediction_id: str) -> str | None:
        raw = await self._redis.hget(self.keys.where, prediction_id)
        return text(raw) if raw is not None else None
