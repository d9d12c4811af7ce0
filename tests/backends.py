"""Real cluster backends for tests: this machine's Redis under a fresh key prefix, a private
`redis-server` that a test may restart, and an S3 endpoint from moto in server mode."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from redis import asyncio as aioredis

REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def redis_prefix(url: str = REDIS_URL) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        client = aioredis.Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


class Part(Protocol):
    """A queue or an event bus: what `parts` makes and closes."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


P = TypeVar("P", bound=Part)


@contextlib.asynccontextmanager
async def parts(
    backend: str, local: P, redis: Callable[..., P]
) -> AsyncIterator[Callable[..., Awaitable[P]]]:
    """A factory of one backend's parts: `local` each time (one process), or for "redis" a new
    part per call (another process on the same keys), built by `redis(prefix=…, **kwargs)`,
    started, and closed at the end."""
    made: list[P] = []
    async with redis_prefix() as prefix:

        async def factory(**kwargs: object) -> P:
            if backend == "local":
                return local
            part = redis(prefix=prefix, **kwargs)
            await part.start()
            made.append(part)
            return part

        try:
            yield factory
        finally:
            for part in made:
                await part.close()


@dataclass
class RedisServer:
    """A `redis-server` of the test's own, on a free port, without persistence."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make test installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 server (moto) and a bucket made for the test."""

    endpoint_url: str
    bucket: str

    def storage_url(self, prefix: str = "") -> str:
        path = f"/{prefix}" if prefix else ""
        return f"s3://{self.bucket}{path}?endpoint_url={self.endpoint_url}&region=us-east-1"


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 in server mode on a free port (no real S3 server is available here)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint_url: str) -> str:
    import boto3

    name = f"test-{secrets.token_hex(6)}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name
