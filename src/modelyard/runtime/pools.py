"""What the scheduler knows about each queue's instances: configuration, members, snapshots."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modelyard.runtime.instance import Instance, InstanceSpec

if TYPE_CHECKING:
    from modelyard.runtime.scheduler import Job


@dataclass(frozen=True)
class PoolConfig:
    """How one queue's instances run: which version, on what hardware, how many of them."""

    spec: InstanceSpec
    hardware: str = "cpu"
    gpus: int = 0  # whole GPUs per instance
    min_instances: int = 0
    max_instances: int = 1
    model: str = ""  # owner/name
    deployment: str | None = None  # owner/name of the deployment, for deployment queues
    owners: frozenset[str] = frozenset()  # accounts that may see these instances

    def __post_init__(self) -> None:
        if not 0 <= self.min_instances <= self.max_instances:
            raise ValueError("min_instances must be between 0 and max_instances")

    def replaces(self, old: PoolConfig) -> bool:
        """True when instances started for `old` cannot serve this configuration."""
        return self.spec != old.spec or self.hardware != old.hardware or self.gpus != old.gpus


MemberState = str  # booting | idle | busy | stopping


@dataclass(eq=False)
class Member:
    """One instance of a pool, with the scheduler's bookkeeping around it."""

    instance: Instance
    queue: str
    config: PoolConfig  # what it was started for
    gpus: tuple[int, ...] = ()
    in_flight: int = 0  # slots leased, from lease to the end of the prediction
    served: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    ready_seconds: float | None = None  # how long the boot took
    draining: bool = False  # an old release's: finishes its predictions, takes no new ones
    stopping: bool = False
    stop_reason: str | None = None
    checking: bool = False  # a health check is under way

    @property
    def id(self) -> str:
        return self.instance.id

    @property
    def booting(self) -> bool:
        return self.instance.state == "booting"

    @property
    def ready(self) -> bool:
        return self.instance.state in ("idle", "busy") and not self.stopping

    @property
    def dead(self) -> bool:
        """The instance failed or its process is gone (a boot in progress is not dead)."""
        if self.booting:
            return False
        return self.instance.state in ("failed", "stopped") or not self.instance.alive

    @property
    def free_slots(self) -> int:
        if not self.ready or self.draining or self.dead:
            return 0
        return max(0, self.config.spec.concurrency - self.in_flight)

    @property
    def state(self) -> MemberState:
        if self.stopping or self.draining:
            return "stopping"
        if self.booting:
            return "booting"
        return "busy" if self.in_flight else "idle"


@dataclass(eq=False)
class Pool:
    """The instances of one queue (`version:<pk>` or `deployment:<id>`)."""

    queue: str
    config: PoolConfig
    members: list[Member] = field(default_factory=list)
    retired: bool = False  # the deployment is gone: drain, stop, forget
    boot_failures: int = 0
    retry_at: float = 0.0  # after a failed boot, warm instances wait until then
    # Predictions whose instance died before they reached the model, with when that was.
    redeliveries: deque[tuple[Job, float]] = field(default_factory=deque)

    @property
    def active(self) -> list[Member]:
        """Members serving the current configuration (not draining)."""
        return [m for m in self.members if not m.draining]

    @property
    def floor(self) -> int:
        return 0 if self.retired else self.config.min_instances

    def protects(self, member: Member) -> bool:
        """True when stopping `member` would leave fewer warm instances than min_instances."""
        return not member.draining and len(self.active) <= self.floor


@dataclass(frozen=True)
class InstanceInfo:
    """A snapshot of one instance, for listings and the boot record."""

    id: str
    queue: str
    version: str
    model: str
    deployment: str | None
    hardware: str
    gpus: tuple[int, ...]
    state: str  # booting | idle | busy | stopping | stopped | failed
    pid: int | None
    predictions: int
    started_at: datetime
    ready_at: datetime | None = None
    stopped_at: datetime | None = None
    setup_seconds: float | None = None
    setup_logs: str | None = None
    error: str | None = None
    stop_reason: str | None = None
    owners: frozenset[str] = frozenset()

    @property
    def uptime(self) -> float:
        end = self.stopped_at or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())


def snapshot(member: Member, state: str | None = None, **changes: object) -> InstanceInfo:
    """The InstanceInfo of `member` now; `changes` set fields such as stopped_at or error."""
    inst = member.instance
    values: dict[str, object] = dict(
        id=member.id,
        queue=member.queue,
        version=member.config.spec.version_id,
        model=member.config.model,
        deployment=member.config.deployment,
        hardware=member.config.hardware,
        gpus=member.gpus,
        state=state or member.state,
        pid=inst.pid,
        predictions=member.served,
        started_at=member.created_at,
        ready_at=inst.ready_at,
        setup_seconds=member.ready_seconds,
        stop_reason=member.stop_reason,
        owners=member.config.owners,
    )
    values.update(changes)
    return InstanceInfo(**values)  # type: ignore[arg-type]
