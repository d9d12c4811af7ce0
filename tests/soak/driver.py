"""Driving the soak: the seeded plan, the four kinds of clients, the killer and the fd sampler."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelyard.runtime._processes import children, start_time
from tests.integration.harness import Server
from tests.integration.receiver import Delivery, Receiver

CLIENTS = 10  # predictions in flight at once
MODES = ("sync", "async", "stream", "webhook")
CANCEL_RATE = 0.12
PER_PREDICTION = 120.0  # seconds one prediction may take, queueing included
KILL_EVERY = (3.0, 9.0)  # seconds between SIGKILLs
TERMINAL = frozenset({"succeeded", "failed", "canceled"})


@dataclass
class Plan:
    """What the test does with one prediction, drawn from the seeded RNG."""

    index: int
    mode: str
    count: int
    interval: float
    cancel_after: float | None  # seconds after creation, None: never canceled


@dataclass
class Outcome:
    """What the test saw of one prediction."""

    plan: Plan
    id: str = ""
    canceled: bool = False  # a cancel request was answered 200
    first_terminal: dict[str, Any] | None = None
    sse: list[tuple[str, str]] = field(default_factory=list)  # (event, data)
    problem: str | None = None  # the client side broke (timeout, unexpected answer)


@dataclass
class Kill:
    instance_id: str
    pid: int
    target: str  # "coglet" (the server process) or "worker" (its Python worker)
    at: float  # time.time() just before the signal


@dataclass
class Watch:
    """What the killer and the sampler collect while predictions run."""

    kills: list[Kill] = field(default_factory=list)
    pids: dict[int, int] = field(default_factory=dict)  # model processes seen: start times
    fds: list[tuple[int, int]] = field(default_factory=list)  # (predictions done, open fds)
    done: int = 0
    undriven: int = 0  # planned predictions not created before the run's time limit


def make_plans(rng: random.Random, count: int) -> list[Plan]:
    plans = []
    for index in range(count):
        mode = rng.choice(MODES)
        cancel = mode != "sync" and rng.random() < CANCEL_RATE
        plans.append(
            Plan(
                index=index,
                mode=mode,
                count=rng.randint(1, 8),
                interval=rng.choice((0.0, 0.01, 0.02, 0.05)),
                cancel_after=rng.uniform(0.0, 0.4) if cancel else None,
            )
        )
    return plans


# -- driving predictions ---------------------------------------------------------------------


async def run_one(
    http: httpx.AsyncClient, plan: Plan, hooks: WebhookIndex, deadline: float
) -> Outcome:
    outcome = Outcome(plan)
    body: dict[str, Any] = {"input": {"count": plan.count, "interval": plan.interval}}
    headers = {}
    if plan.mode == "sync":
        headers["Prefer"] = "wait=10"
    elif plan.mode == "stream":
        body["stream"] = True
    elif plan.mode == "webhook":
        body["webhook"] = f"{hooks.receiver.url}/hook/{plan.index}"
        body["webhook_events_filter"] = ["start", "completed"] if plan.index % 2 else ["completed"]
    limit = min(deadline, time.monotonic() + PER_PREDICTION)
    try:
        r = await http.post("/v1/models/admin/ticker/predictions", json=body, headers=headers)
        if r.status_code != 201:
            outcome.problem = f"create answered {r.status_code}: {r.text[:300]}"
            return outcome
        created = r.json()
        outcome.id = created["id"]
        canceler = None
        if plan.cancel_after is not None:
            canceler = asyncio.create_task(cancel_later(http, outcome, plan.cancel_after))
        try:
            await follow(http, created, outcome, hooks, limit)
        finally:
            if canceler is not None:
                await canceler
    except (httpx.HTTPError, TimeoutError, AssertionError) as exc:
        outcome.problem = f"{type(exc).__name__}: {exc}"
    return outcome


async def follow(
    http: httpx.AsyncClient,
    created: dict[str, Any],
    outcome: Outcome,
    hooks: WebhookIndex,
    limit: float,
) -> None:
    """Wait for the prediction's end the way its mode does; record its first terminal state."""
    if created["status"] in TERMINAL:
        outcome.first_terminal = created
    elif outcome.plan.mode == "stream":
        await read_stream(created["urls"]["stream"], outcome, limit)
    elif outcome.plan.mode == "webhook":
        await hooks.wait_terminal(outcome.id, limit)
    if outcome.first_terminal is None:
        outcome.first_terminal = await poll_terminal(http, outcome.id, limit)


async def cancel_later(http: httpx.AsyncClient, outcome: Outcome, delay: float) -> None:
    await asyncio.sleep(delay)
    r = await http.post(f"/v1/predictions/{outcome.id}/cancel")
    assert r.status_code == 200, f"cancel answered {r.status_code}: {r.text[:300]}"
    outcome.canceled = True


async def poll_terminal(
    http: httpx.AsyncClient, prediction_id: str, limit: float
) -> dict[str, Any]:
    delay = 0.05
    while time.monotonic() < limit:
        body: dict[str, Any] = (await http.get(f"/v1/predictions/{prediction_id}")).json()
        if body["status"] in TERMINAL:
            return body
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise TimeoutError(f"{prediction_id} was not terminal in time")


async def read_stream(url: str, outcome: Outcome, limit: float) -> None:
    """Read the SSE stream (no token needed) until `done`; events go to `outcome.sse`."""
    timeout = httpx.Timeout(10.0, read=max(1.0, limit - time.monotonic()))
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream("GET", url, headers={"Accept": "text/event-stream"}) as resp,
    ):
        assert resp.status_code == 200, f"stream answered {resp.status_code}"
        event, data = "", []
        async for line in resp.aiter_lines():
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and event:
                outcome.sse.append((event, "\n".join(data)))
                if event == "done":
                    return
                event, data = "", []
            if time.monotonic() > limit:
                raise TimeoutError("the stream did not end in time")


class WebhookIndex:
    """The receiver's deliveries grouped by prediction id, read from the event loop only."""

    def __init__(self, rec: Receiver) -> None:
        self.receiver = rec
        self.seen = 0
        self.by_id: dict[str, list[Delivery]] = {}

    def refresh(self) -> None:
        fresh = self.receiver.deliveries[self.seen :]
        self.seen += len(fresh)
        for delivery in fresh:
            self.by_id.setdefault(json.loads(delivery.body)["id"], []).append(delivery)

    def terminal(self, prediction_id: str) -> list[Delivery]:
        self.refresh()
        return [
            d for d in self.by_id.get(prediction_id, []) if json.loads(d.body)["status"] in TERMINAL
        ]

    async def wait_terminal(self, prediction_id: str, limit: float) -> None:
        while not self.terminal(prediction_id) and time.monotonic() < limit:
            await asyncio.sleep(0.05)


async def drive(
    srv: Server,
    plans: list[Plan],
    hooks: WebhookIndex,
    watch: Watch,
    rng: random.Random,
    run_limit: float,
) -> list[Outcome]:
    """Run every plan, CLIENTS at a time, killing instances meanwhile, for `run_limit` s."""
    deadline = time.monotonic() + run_limit
    pending = list(reversed(plans))
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=CLIENTS * 2 + 4)
    async with httpx.AsyncClient(
        base_url=srv.url,
        headers={"Authorization": f"Bearer {srv.token}"},
        timeout=30,
        limits=limits,
    ) as http:

        async def client() -> None:
            while pending and time.monotonic() < deadline:
                outcomes.append(await run_one(http, pending.pop(), hooks, deadline))
                watch.done += 1

        killer = asyncio.create_task(kill_instances(http, watch, rng, deadline))
        sampler = asyncio.create_task(sample_fds(srv, watch))
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        for task in (killer, sampler):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    watch.undriven = len(pending)
    return outcomes


# -- faults and measurements -----------------------------------------------------------------


async def kill_instances(
    http: httpx.AsyncClient, watch: Watch, rng: random.Random, deadline: float
) -> None:
    """SIGKILL a random live instance (busy ones preferred) every few seconds."""
    killed: set[str] = set()
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(*KILL_EVERY))
        live = (await http.get("/v1/instances")).json()["results"]
        candidates = [
            i for i in live if i["pid"] and i["state"] in ("idle", "busy") and i["id"] not in killed
        ]
        for instance in live:
            remember(watch, instance["pid"])
        busy = [i for i in candidates if i["state"] == "busy"]
        pool = busy if busy and rng.random() < 0.8 else candidates
        if not pool:
            continue
        instance = rng.choice(pool)
        workers = children(instance["pid"])
        if workers and rng.random() < 0.5:
            target, pid = "worker", rng.choice(workers)
        else:
            target, pid = "coglet", instance["pid"]
        if not is_coglet(pid):
            continue  # it exited meanwhile: the pid may belong to anyone now
        killed.add(instance["id"])
        watch.kills.append(Kill(instance["id"], pid, target, time.time()))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remember(watch: Watch, pid: int | None) -> None:
    """Note an instance's process and its workers with their start times (pids get reused)."""
    for each in [pid, *children(pid)] if pid else []:
        started = start_time(each)
        if started is not None:
            watch.pids[each] = started


def is_coglet(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"cog.server.http" in cmdline or b"coglet" in cmdline


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def sample_fds(srv: Server, watch: Watch) -> None:
    assert srv.process is not None
    while True:
        watch.fds.append((watch.done, open_fds(srv.process.pid)))
        await asyncio.sleep(2.0)
