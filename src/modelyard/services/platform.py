"""The composition root: builds every part from Settings, starts and stops them in order."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import socket
import time
import weakref
from pathlib import Path

from modelyard.accounts import (
    Account,
    RateLimits,
    TokenAuthenticator,
    create_account,
    create_token,
    get_account,
    make_rate_limiter,
)
from modelyard.billing import Meter, load_prices
from modelyard.core.errors import NotFound, ServiceUnavailable
from modelyard.core.states import Status
from modelyard.core.tasks import cancel_all
from modelyard.events import make_bus
from modelyard.files import make_storage
from modelyard.queue import make_queue
from modelyard.runtime._processes import kill_orphans
from modelyard.runtime.hardware import GpuAllocator, HardwareSku, inventory
from modelyard.runtime.instance import Instance, InstanceSpec
from modelyard.runtime.scheduler import Scheduler
from modelyard.sandbox import detect as detect_sandbox
from modelyard.sandbox import listen_unix
from modelyard.services import deployments as deployments_service
from modelyard.services import instances as instances_service
from modelyard.services import pending_builds
from modelyard.services.billing import InstanceBilling
from modelyard.services.catalog import Catalog
from modelyard.services.cluster import RemoteRuntime, WorkerLoops, follow_worker_hardware
from modelyard.services.execution import Execution
from modelyard.services.inputs import InputResolver
from modelyard.services.leader import Leader
from modelyard.services.pending_builds import PendingBuilds
from modelyard.services.predictions import requeue
from modelyard.services.retention import Retention
from modelyard.services.secrets import SecretInputs
from modelyard.services.urls import Urls
from modelyard.services.webhooks import WebhookNotifier
from modelyard.services.workers import default_name
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import predictions as predictions_store

logger = logging.getLogger(__name__)

CATALOG_OWNER = "modelyard"
RESTART_ERROR = (
    "The platform stopped while this prediction was running, so its result is unknown. "
    "Run it again."
)


class Platform:
    """Everything one modelyard process runs: store, queue, events, files, runtime."""

    def __init__(self, settings: Settings, role: str = "serve") -> None:
        if role != "serve":
            check_cluster_settings(settings)
        self.settings = settings
        self.role = role  # serve (all in one) | api | worker: see services/cluster.py
        self.worker_name = (settings.worker_name or default_name()) if role == "worker" else None
        self.data_dir = settings.data_dir
        self.db = Database(settings.db_url)
        # Each part in-process / on local disk, or shared when its URL is set (docs/cluster.md).
        self.queue = make_queue(settings.redis_url, consumer=self.worker_name)
        self.bus = make_bus(settings.redis_url)
        self.storage = make_storage(settings.storage_url, self.data_dir)
        self.catalog = Catalog()
        self.authenticator = TokenAuthenticator(self.db)
        self.secret = b""
        self.sandbox = detect_sandbox(settings.sandbox, uid=settings.sandbox_uid)
        # Each instance uploads with its own token (see Instance.upload_token).
        self.upload_instances: weakref.WeakValueDictionary[str, Instance] = (
            weakref.WeakValueDictionary()
        )
        self.execution = Execution(self)
        self.storage.on_full = self.execution.storage_full
        self.inputs = InputResolver(self)
        self.webhooks = WebhookNotifier(self)
        self._hardware: list[HardwareSku] | None = None
        self.runtime = Scheduler(  # run by `serve` and `worker` only
            self.queue,
            self.execution,
            self._make_instance,
            idle_timeout=settings.idle_timeout,
            prediction_timeout=settings.prediction_timeout,
            pid_dir=self.data_dir / "instances",
            gpus=GpuAllocator(self.hardware()),
            scale_up_wait=settings.scale_up_wait,
        )
        # Accounts and billing (issue 5).
        self.runtime.hooks = self.execution
        self.scheduler: Scheduler | RemoteRuntime = (
            RemoteRuntime(self) if role == "api" else self.runtime
        )
        self.worker = (
            WorkerLoops(self, self.runtime, self.worker_name) if self.worker_name else None
        )
        self.leader = Leader(self) if role != "serve" else None
        self.meter = Meter(
            self.db,
            load_prices(settings.prices),
            mode=settings.billing,
            starting_credit=settings.starting_credit,
        )
        self.instance_billing = InstanceBilling(self)
        self.instance_billing.resolvers["deployment"] = functools.partial(
            deployments_service.billing_target, self
        )
        self.secret_inputs = SecretInputs(lambda: self.secret)
        self.pending_builds = PendingBuilds(self)  # predictions waiting on a build
        self.rate_limits = RateLimits.parse(
            settings.rate_limit_create,
            settings.rate_limit_other,
            account_create=settings.rate_limit_account_create,
            account_other=settings.rate_limit_account_other,
        )
        self.rate_limiter = make_rate_limiter(settings.redis_url)
        self.retention = Retention(self, settings.retention_seconds)
        self._tasks: list[asyncio.Task[None]] = []
        self.build_locks: dict[str, asyncio.Lock] = {}
        self.first_token: str | None = None
        self._drain_deadline: float | None = None  # monotonic; set when a shutdown begins

    # -- URLs ------------------------------------------------------------------------------------

    def urls(self, request_base: str | None = None) -> Urls:
        """URLs for responses: the configured public URL, else the request's own base URL."""
        base = (self.settings.public_url or request_base or self.settings.internal_url).rstrip("/")
        return Urls(base=base, secret=self.secret, ttl=self.settings.signed_url_ttl)

    @property
    def internal_urls(self) -> Urls:
        return Urls(
            base=self.settings.internal_url, secret=self.secret, ttl=self.settings.signed_url_ttl
        )

    @property
    def upload_url(self) -> str:
        """Where instances PUT output files; each appends its own token and a slash."""
        return f"{self.settings.internal_url}/internal/uploads/"

    @property
    def upload_socket(self) -> Path:
        """The Unix socket sandboxed instances upload through (they have no network)."""
        return self.data_dir / "run" / "upload.sock"

    def listen_for_uploads(self) -> socket.socket | None:
        """The listening upload socket for the API server to serve; None when unsandboxed."""
        if not self.sandbox.enabled:
            return None
        self.upload_socket.parent.mkdir(parents=True, exist_ok=True)
        return listen_unix(self.upload_socket, mode=0o666)

    def upload_instance(self, token: str) -> Instance | None:
        """The live instance an upload token belongs to."""
        instance = self.upload_instances.get(token)
        return instance if instance is not None and instance.alive else None

    @property
    def internal_files_prefix(self) -> str:
        return f"{self.settings.internal_url}/internal/files/"

    def hardware(self) -> list[HardwareSku]:
        if self._hardware is None:
            self._hardware = inventory(self.settings.hardware)
        return self._hardware

    def offer_hardware(self, skus: list[HardwareSku]) -> None:
        """An API replica offers what the cluster's workers have (services/cluster.py)."""
        self._hardware = skus

    def _make_instance(self, spec: InstanceSpec) -> Instance:
        instance = Instance(
            spec,
            pid_dir=self.data_dir / "instances",
            tmp_root=self.data_dir / "tmp",
            cancel_grace=self.settings.cancel_grace,
            sandbox=self.sandbox,
            upload_socket=self.upload_socket if self.sandbox.enabled else None,
            sandbox_network=self.settings.sandbox_network,
        )
        self.upload_instances[instance.upload_token] = instance
        return instance

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the data directory and database, recover after a crash, start the scheduler."""
        for sub in ("", "files", "versions", "envs", "instances", "tmp", "run"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the database, secret.key and every tenant's files
        self.secret = self._load_secret()
        await self.db.migrate()
        await self.queue.start()
        await self.bus.start()
        if self.role != "api":
            killed = kill_orphans(self.data_dir / "instances")
            if killed:
                logger.warning("stopped %d model processes left by a previous process", killed)
        if self.role != "worker":
            await self._ensure_owner()
        if self.role == "serve":
            await self._recover()
            await instances_service.close_stale_records(self)
            await deployments_service.start_all(self)  # their warm instances boot
        if self.worker is not None:  # registers; what it ran under this name before has failed
            self._tasks.extend(await self.worker.start())
        if self.role != "api":
            self._tasks.append(asyncio.ensure_future(self.runtime.run()))
        if self.leader is not None:
            self._tasks.append(asyncio.ensure_future(self.leader.run()))
        if self.role == "api":  # a token revoked on another replica stops working here too
            self._tasks.append(asyncio.ensure_future(self.authenticator.follow()))
            self._tasks.append(asyncio.ensure_future(follow_worker_hardware(self)))
        self._tasks.append(asyncio.ensure_future(self.webhooks.sender.run()))
        if self.retention.period is not None and self.role != "worker":
            self._tasks.append(asyncio.ensure_future(self.retention.run()))

    def check_accepting(self) -> None:
        """Raise ServiceUnavailable (503, Retry-After) once a shutdown has begun."""
        if self._drain_deadline is not None:
            raise ServiceUnavailable(
                "The platform is shutting down and takes no new predictions. Try again shortly.",
                headers={"Retry-After": "30"},
            )

    async def drain(self) -> None:
        """SIGTERM: take no new work (queued predictions stay for the next start) and let the
        running ones finish within `settings.shutdown_grace` seconds."""
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + self.settings.shutdown_grace
            logger.info(
                "shutting down: running predictions have %.0f s to finish",
                self.settings.shutdown_grace,
            )
        if self.worker is not None:
            await self.worker.registration.draining()
        await self.runtime.drain(max(0.0, self._drain_deadline - time.monotonic()))

    def kill_instances(self) -> None:
        """A second SIGTERM: kill every model process now; running predictions fail."""
        logger.warning("stopping now: killing every model process")
        self.runtime.kill_all()

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace
        if self._drain_deadline is not None:
            grace = max(0.0, self._drain_deadline - time.monotonic())
        await self.runtime.shutdown(grace=grace)
        if self.worker is not None:
            await self.worker.registration.stopped()
        await cancel_all(self._tasks)  # the leader's and heartbeats' loops talk to Redis
        await self.webhooks.close()
        await self.bus.close()  # after the last terminal events, which it still sends
        await self.queue.close()
        await self.rate_limiter.close()
        await self.db.close()

    def _load_secret(self) -> bytes:
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    async def _ensure_owner(self) -> None:
        """Create the owner account (with a first token, printed once) and the catalog's org."""
        async with self.db.begin() as conn:
            await self.db.serialize(conn, "owner")  # API replicas start together
            if await accounts_store.find_account(conn, CATALOG_OWNER) is None:
                await create_account(conn, CATALOG_OWNER, type="organization", name="modelyard")
            if await accounts_store.find_account(conn, self.settings.owner) is None:
                owner = await create_account(conn, self.settings.owner)
                self.first_token = await create_token(conn, owner, name="first token")

    async def _recover(self) -> None:
        """Predictions running when the last process died fail; waiting ones queue again."""
        async with self.db.connect() as conn:
            rows = await predictions_store.list_by_status(
                conn, [Status.STARTING.value, Status.PROCESSING.value]
            )
        queued = {row["id"] for row in await pending_builds.recover(self, rows)}
        for row in sorted(rows, key=lambda r: r["created_at"]):
            if row["status"] == Status.PROCESSING.value:
                from modelyard.services.predictions import finish_running_after_crash

                await finish_running_after_crash(self, row, RESTART_ERROR)
                continue
            if row["id"] not in queued:  # waiting on a build (see services/pending_builds.py)
                self.bus.open(row["id"])
                continue
            async with self.db.connect() as conn:
                account = await accounts_store.find_account_by_id(conn, row["account_id"])
            self.bus.open(row["id"])
            await requeue(self, row, account["username"] if account else "")
        if rows:
            logger.info("recovered %d predictions after a restart", len(rows))

    async def account(self, username: str) -> Account:
        async with self.db.connect() as conn:
            try:
                return await get_account(conn, username)
            except NotFound:
                raise


def check_cluster_settings(settings: Settings) -> None:
    """Raise ValueError naming what `modelyard api` and `modelyard worker` lack: the shared
    backends (processes share nothing else) and one secret key for the whole cluster."""
    missing = [
        name
        for name, value in (
            ("MODELYARD_DATABASE_URL (postgresql://…)", settings.database_url),
            ("MODELYARD_REDIS_URL", settings.redis_url),
            ("MODELYARD_STORAGE_URL", settings.storage_url),
            ("MODELYARD_SECRET_KEY", settings.secret_key),
        )
        if not value
    ]
    if settings.database_url and not settings.database_url.startswith(("postgres", "postgresql")):
        missing.insert(0, "MODELYARD_DATABASE_URL on PostgreSQL")
    if missing:
        raise ValueError(
            "modelyard api and modelyard worker run as a cluster and need, the same in every "
            f"process: {', '.join(missing)}. See docs/cluster.md; `modelyard serve` needs none."
        )


def default_catalog_dir() -> Path | None:
    """The repository's `models/` folder, where the built-in catalog lives."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "models"
        if (candidate / "hello-world" / "cog.yaml").exists():
            return candidate
    return None
