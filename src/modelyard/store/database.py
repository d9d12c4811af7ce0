"""The database connection: SQLite inline on the event loop, Postgres through asyncpg.

SQLite statements take tens of microseconds, while every aiosqlite call costs a thread round
trip (measured: 1.3 ms per one-statement transaction against 0.16 ms run inline). So for SQLite
one connection runs statements inline, and an asyncio lock serialises transactions; for
Postgres, whose statements are network round trips anyway, the asyncpg engine is used as is.
Both are reached through the same `Conn` interface: `await conn.execute(...)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
PING_AFTER_IDLE = 1.0  # seconds a pooled PostgreSQL connection may rest before it is pinged


class Conn(Protocol):
    """What repositories need of a connection (an Conn has exactly this)."""

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]: ...

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


class _InlineConnection:
    """A sync SQLite connection behind the async `Conn` interface; statements run inline."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]:
        if parameters is None:
            return self._conn.execute(statement)
        return self._conn.execute(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self._conn, *args, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only once it has rested PING_AFTER_IDLE seconds.

    `pool_pre_ping` pinged before every transaction: one more round trip each, an eighth of
    the platform's time per prediction on PostgreSQL. A connection used a moment ago is alive;
    one that rested may have been cut (a server restart) and is replaced before use."""

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["rested_from"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        rested_from = record.info.get("rested_from")
        if rested_from is None or time.monotonic() - rested_from < PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer a ping") from exc
        if not alive:
            raise DisconnectionError("the pooled connection did not answer a ping")

    event.listen(engine.pool, "checkin", checkin)
    event.listen(engine.pool, "checkout", checkout)


def normalize_url(url: str) -> str:
    """Accept `postgresql://`, `sqlite:///` and the async driver spellings alike."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite+aiosqlite:///"):
        return "sqlite:///" + url.split(":///", 1)[1]
    return url


class Database:
    """Owns the engine. `begin()` opens a transaction; `connect()` a connection for reads."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        if self.is_sqlite:
            self._sync = create_engine(
                self.url,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False, "timeout": 10},
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
        else:
            self._async = create_async_engine(self.url, pool_size=10, max_overflow=20)
            _ping_when_idle(self._async.sync_engine)

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("a database connection is already open in this task")
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        if self._sync is not None:
            async with self._held():
                with self._sync.begin() as conn:
                    yield _InlineConnection(conn)
            return
        assert self._async is not None
        async with self._async.begin() as aconn:
            yield aconn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Conn]:
        if self._sync is not None:
            async with self._held():
                with self._sync.connect() as conn:
                    yield _InlineConnection(conn)
            return
        assert self._async is not None
        async with self._async.connect() as aconn:
            yield aconn

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (one process at a time)."""
        async with self.begin() as conn:
            await self.serialize(conn, "migrate")
            await conn.run_sync(_upgrade)

    async def serialize(self, conn: Conn, name: str) -> None:
        """Hold `conn`'s transaction until processes doing the same `name` before it commit
        (a Postgres advisory lock: cluster processes start together); SQLite has one writer."""
        if not self.is_sqlite:
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:7], "big")
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    async def notify(self, conn: Conn, channel: str) -> None:
        """Tell every process `listen`ing on `channel` once this transaction commits (Postgres
        NOTIFY: cluster processes drop caches; one SQLite process has nobody to tell)."""
        if not self.is_sqlite:
            await conn.execute(text(f"NOTIFY {channel}"))

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` at every NOTIFY on `channel`, forever (reconnecting); Postgres only."""
        assert self._async is not None
        while True:
            try:
                async with self._async.connect() as aconn:
                    raw = (await aconn.get_raw_connection()).driver_connection
                    assert raw is not None
                    await raw.add_listener(channel, lambda *_: on_notify())
                    on_notify()  # whatever was missed while not listening
                    while not raw.is_closed():
                        await asyncio.sleep(1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("listening on %s failed; listening again", channel, exc_info=True)
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
        if self._async is not None:
            await self._async.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "heads")
