"""A real cluster for black-box tests: `modelyard api` ×2 and `modelyard worker` ×N processes,
each with its own data directory, on a database of their own in this machine's PostgreSQL, a
`redis-server` of their own on a free port and an S3 bucket on moto's server.

It stands in for `Server`: `url` is a load balancer (tests/integration/balancer.py) that sends
each new connection to the next API replica, so a test's clients (the official one, `http()`,
the CLI) talk to both; the replicas' public URL is the balancer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from tests.backends import S3_ENV, RedisServer, S3Endpoint, free_port, moto_server
from tests.integration.balancer import Balancer
from tests.integration.harness import Server, modelyard, push_with

POSTGRES = "postgresql://127.0.0.1:5432"

# Suites that must hold in both deployments parametrize their platform fixture with this.
MODES = ["embedded", pytest.param("cluster", marks=pytest.mark.cluster)]


def start_platform(mode: str, root: Path, envs_dir: Path, settings: dict[str, str]) -> Any:
    """A started `Server` (embedded) or `Cluster` (cluster mode) under `root`."""
    if mode == "cluster":
        return Cluster(root / "cluster", envs_dir, settings).start()
    return Server(data_dir=root / "data", envs_dir=envs_dir, settings=settings).start()


@dataclass
class Cluster:
    """Two API replicas and `worker_count` workers; `start`/`stop` like a `Server`."""

    root: Path
    envs_dir: Path
    settings: dict[str, str] = field(default_factory=dict)
    worker_count: int = 2
    worker_settings: list[dict[str, str]] = field(default_factory=list)
    apis: list[Server] = field(default_factory=list)
    workers: list[Server] = field(default_factory=list)
    token: str = ""
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    database: str = field(default_factory=lambda: f"modelyard_cluster_{secrets.token_hex(4)}")
    redis: RedisServer | None = None
    s3: S3Endpoint | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    balancer: Balancer | None = None

    # -- what tests use, as on Server ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The load balancer in front of the API replicas."""
        assert self.balancer is not None
        return self.balancer.url

    def verify(self) -> bool:
        """The cluster serves plain HTTP behind its balancer: nothing to verify."""
        return True

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
            **kwargs,  # type: ignore[arg-type]
        )

    def env(self) -> dict[str, str]:
        env = self.apis[0].env() if self.apis else self._server("api", 0).env()
        env["MODELYARD_URL"] = self.url
        return env

    def cli(
        self, *args: str, cwd: Path | None = None, timeout: float = 600
    ) -> CompletedProcess[str]:
        return modelyard(*args, env=self.env(), cwd=cwd, timeout=timeout)

    def push(self, scenario: str | Path, model: str, *extra: str) -> str:
        return push_with(self.cli, scenario, model, *extra)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def shared(self) -> dict[str, str]:
        """Settings every process of the cluster gets."""
        assert self.redis is not None and self.s3 is not None
        return {
            "MODELYARD_DATABASE_URL": f"{POSTGRES}/{self.database}",
            "MODELYARD_REDIS_URL": self.redis.url,
            "MODELYARD_STORAGE_URL": self.s3.storage_url("files"),
            "MODELYARD_SECRET_KEY": self.secret,
            "MODELYARD_HEARTBEAT_INTERVAL": "1",
            "MODELYARD_PUBLIC_URL": self.url,
            **S3_ENV,
            **self.settings,
        }

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.balancer = Balancer(self._live_apis).start()
        self._stack.callback(self.balancer.stop)
        self.redis = RedisServer(free_port(), self.root)
        self.redis.start()
        self._stack.callback(self.redis.stop)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
        endpoint = self._stack.enter_context(moto_server())
        bucket = f"modelyard-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(
            Bucket=bucket
        )
        self.s3 = S3Endpoint(endpoint, bucket)
        asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
        self._stack.callback(
            lambda: asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        )
        result = modelyard("tokens", "create", env=self._server("api", 0).env())
        assert result.returncode == 0, result.stderr
        self.token = result.stdout.strip()
        self.apis = [self._server("api", n) for n in range(2)]
        self.workers = [self._server("worker", n) for n in range(self.worker_count)]
        for process in self.apis + self.workers:
            process.launch()
        for process in self.apis + self.workers:
            process.wait_ready(120)
        return self

    def _live_apis(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", api.port) for api in self.apis if api.process is not None]

    def _server(self, command: str, n: int) -> Server:
        settings = {**self.shared, "MODELYARD_REGISTER_BUILTIN_MODELS": "0"}
        if command == "worker":
            settings["MODELYARD_WORKER_NAME"] = f"worker-{n}"
            if n < len(self.worker_settings):
                settings.update(self.worker_settings[n])
        server = Server(
            data_dir=self.root / f"{command}-{n}" / "data",
            envs_dir=self.envs_dir,
            settings=settings,
            command=command,
            token=self.token,
        )
        server.data_dir.parent.mkdir(parents=True, exist_ok=True)
        return server

    def stop(self) -> None:
        for process in self.workers + self.apis:
            if process.process is not None:
                process.stop()
        self._stack.close()

    def kill(self, process: Server) -> None:
        process.kill()


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(f"{POSTGRES}/test")
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }
