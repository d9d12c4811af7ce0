"""Soak: many predictions against a real `modelyard serve`, with cancels and SIGKILLed instances.

Sync (`Prefer: wait`), async (polled), streamed (SSE) and webhook predictions are mixed; some
are canceled and model instances are SIGKILLed at random (the coglet parent or its worker).
Afterwards every prediction must be terminal exactly once, with the status its history allows,
and nothing (processes, temp directories, file descriptors) may be left behind.

SOAK_PREDICTIONS sets the size (default 1,200, the CI size); SOAK_SEED replays a run's plan.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.runtime._processes import start_time
from tests.integration.harness import Server, processes_with
from tests.integration.receiver import receiver
from tests.soak.driver import (
    TERMINAL,
    Kill,
    Outcome,
    Plan,
    Watch,
    WebhookIndex,
    drive,
    make_plans,
    open_fds,
    remember,
)

PREDICTIONS = int(os.environ.get("SOAK_PREDICTIONS", "1200"))
SEED = int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(1 << 32))
RUN_LIMIT = 60 + PREDICTIONS * 0.3  # seconds to drive them all (measured: ~0.13 s each)
FD_SLACK = 16
COGLET_PREDICTIONS = Path("/tmp/coglet/predictions")

pytestmark = [pytest.mark.soak, pytest.mark.timeout(int(RUN_LIMIT + 180))]


def expected_output(plan: Plan) -> list[str]:
    return [f"t{i}" for i in range(plan.count)]


def parse_time(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


# -- the checks ------------------------------------------------------------------------------


def killed_under(body: dict[str, Any], kills: dict[str, Kill]) -> Kill | None:
    """The kill of the instance this prediction was running on when it was killed, if any."""
    kill = kills.get(body.get("instance_id") or "")
    started = parse_time(body.get("started_at"))
    if kill is None or started is None or started > kill.at:
        return None
    return kill


def where(body: dict[str, Any], kills: dict[str, Kill]) -> str:
    """Where a prediction ran, relative to the kill of its instance, for failure messages."""
    text = f", on {body.get('instance_id')}"
    kill = kills.get(body.get("instance_id") or "")
    started = parse_time(body.get("started_at"))
    created = parse_time(body.get("created_at"))
    if kill is not None and started is not None and created is not None:
        text += (
            f", created {created - kill.at:+.3f} s and started {started - kill.at:+.3f} s"
            f" after its {kill.target} was SIGKILLed"
        )
    return text


def check_prediction(o: Outcome, final: dict[str, Any], kills: dict[str, Kill]) -> list[str]:
    """What is wrong with one prediction's end (empty when nothing is)."""
    errors = []
    status, plan = final["status"], o.plan
    if status not in TERMINAL:
        return [f"not terminal: {status}"]
    if not final.get("completed_at"):
        errors.append("completed_at is not set")
    first = o.first_terminal or {}
    if (first.get("status"), first.get("completed_at")) != (status, final.get("completed_at")):
        errors.append(f"changed after its first terminal state: {first.get('status')} -> {status}")
    kill = killed_under(final, kills)
    allowed = {"succeeded"}
    if o.canceled:
        allowed.add("canceled")
    if kill is not None:
        allowed.add("failed")
    if status not in allowed:
        errors.append(
            f"{status} (allowed: {sorted(allowed)}), error {final.get('error')!r}"
            f"{where(final, kills)}"
        )
    if status == "failed" and "crash" not in (final.get("error") or "").lower():
        errors.append(f"failed without the crash message: {final.get('error')!r}")
    if status == "succeeded" and final["output"] != expected_output(plan):
        errors.append(f"output {final['output']!r}")
    if plan.mode == "stream":
        errors += check_stream(o, final)
    return errors


def check_stream(o: Outcome, final: dict[str, Any]) -> list[str]:
    events = [e for e, _ in o.sse]
    if events.count("done") != 1 or events[-1] != "done":
        return [f"stream events {events}: one `done`, last, expected"]
    done = json.loads(o.sse[-1][1] or "{}")
    errors = []
    if final["status"] == "succeeded":
        outputs = [d for e, d in o.sse if e == "output"]
        if outputs != final["output"] or done != {}:
            errors.append(f"stream carried {outputs} then {done}, the prediction {final['output']}")
    elif final["status"] == "canceled" and done != {"reason": "canceled"}:
        errors.append(f"a canceled stream ended with {done}")
    elif final["status"] == "failed" and done != {"reason": "error"}:
        errors.append(f"a failed stream ended with {done}")
    return errors


def check_webhooks(o: Outcome, final: dict[str, Any], hooks: WebhookIndex) -> list[str]:
    terminal = hooks.terminal(o.id)
    ids = {d.headers.get("webhook-id") for d in terminal}
    if len(ids) != 1:
        return [f"{len(ids)} distinct `completed` webhooks ({len(terminal)} attempts)"]
    body = json.loads(terminal[-1].body)
    if (body["status"], body["completed_at"]) != (final["status"], final["completed_at"]):
        return [f"the `completed` webhook said {body['status']}, the prediction {final['status']}"]
    return []


async def fetch_finals(srv: Server, ids: list[str]) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"}, timeout=30
    ) as http:
        finals: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 20):
            batch = ids[start : start + 20]
            answers = await asyncio.gather(*(http.get(f"/v1/predictions/{i}") for i in batch))
            finals.update({i: a.json() for i, a in zip(batch, answers, strict=True)})
        return finals


def listed_ids(srv: Server) -> list[str]:
    """Every prediction id the list endpoint pages through, in order."""
    ids: list[str] = []
    with srv.http() as http:
        url: str | None = "/v1/predictions"
        for _ in range(PREDICTIONS + 10):
            if url is None:
                break
            page = http.get(url).json()
            ids += [p["id"] for p in page["results"]]
            url = page["next"]
    return ids


async def settle_webhooks(hooks: WebhookIndex, ids: list[str], limit: float = 60) -> None:
    """Wait for every `completed` webhook, then a quiet moment for any duplicate to show."""
    deadline = time.monotonic() + limit
    while any(not hooks.terminal(i) for i in ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(3.0)


def check_run(
    outcomes: list[Outcome], finals: dict[str, dict[str, Any]], watch: Watch, hooks: WebhookIndex
) -> list[str]:
    """Every prediction's end, its webhooks, and the client side of the run."""
    kills = {k.instance_id: k for k in watch.kills}
    problems = [f"#{o.plan.index} {o.plan.mode} {o.id}: {o.problem}" for o in outcomes if o.problem]
    for o in outcomes:
        if not o.id:
            continue
        errors = check_prediction(o, finals[o.id], kills)
        if o.plan.mode == "webhook":
            errors += check_webhooks(o, finals[o.id], hooks)
        problems += [f"{o.id} ({o.plan.mode}, canceled={o.canceled}): {e}" for e in errors]
    if not watch.kills:
        problems.append("the soak never killed an instance")
    if watch.undriven:
        problems.append(f"{watch.undriven} predictions not even created in {RUN_LIMIT:.0f} s")
    return problems


def remember_instances(srv: Server, watch: Watch) -> None:
    """Every instance's pid the platform recorded (killed and replaced ones too), and workers."""
    with srv.http() as http:
        for instance in http.get("/v1/instances", params={"all": "1"}).json()["results"]:
            remember(watch, instance["pid"])


def survivors(marker: str, watch: Watch) -> set[int]:
    """Model processes still running: the very processes seen, or any naming the data dir."""
    seen = {pid for pid, started in watch.pids.items() if start_time(pid) == started}
    return seen | set(processes_with(marker))


def check_leftovers(srv: Server, ids: list[str], watch: Watch) -> list[str]:
    """After the platform stopped: no model process, temp directory or coglet directory left."""
    marker = str(srv.data_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and survivors(marker, watch):
        time.sleep(0.1)
    problems = []
    if left_running := sorted(survivors(marker, watch)):
        problems.append(f"processes outlived the platform: {left_running}")
    tmp_dirs = [Path(srv.settings["TMPDIR"]), srv.data_dir / "tmp"]
    if left := sorted(p.name for d in tmp_dirs for p in d.glob("modelyard-*")):
        problems.append(f"{len(left)} temp directories left behind: {left[:10]}")
    if stale := [i for i in ids if (COGLET_PREDICTIONS / i).exists()]:
        problems.append(f"{len(stale)} coglet prediction directories left: {stale[:10]}")
    return problems


def report(outcomes: list[Outcome], finals: dict[str, dict[str, Any]], watch: Watch) -> None:
    kills = {k.instance_id: k for k in watch.kills}
    statuses = Counter(finals[o.id]["status"] for o in outcomes if o.id)
    by_mode = Counter((o.plan.mode, finals[o.id]["status"]) for o in outcomes if o.id)
    under_kill = sum(
        1
        for o in outcomes
        if o.id and finals[o.id]["status"] == "failed" and killed_under(finals[o.id], kills)
    )
    targets = Counter(k.target for k in watch.kills)
    print(f"soak: statuses {dict(statuses)}; by mode {dict(sorted(by_mode.items()))}")
    print(f"soak: {sum(o.canceled for o in outcomes)} cancel requests; kills {dict(targets)};")
    print(f"soak: {under_kill} failed while running on a killed instance")
    print(f"soak: open fds of the platform (predictions done, fds): {watch.fds}")


def test_soak(soak_server: Server) -> None:
    print(f"\nsoak: {PREDICTIONS} predictions, seed {SEED} (SOAK_SEED={SEED} replays the plan)")
    rng = random.Random(SEED)
    plans = make_plans(rng, PREDICTIONS)
    srv = soak_server.start()
    srv.push("ticker", "admin/ticker")
    assert srv.process is not None
    server_pid = srv.process.pid
    watch = Watch()
    began = time.monotonic()
    with receiver() as rec:
        # Some `completed` deliveries are refused at first: their retries keep their webhook-id.
        rec.statuses = [rng.choice((200, 200, 200, 500, 503)) for _ in range(60)]
        hooks = WebhookIndex(rec)
        outcomes = asyncio.run(drive(srv, plans, hooks, watch, rng, RUN_LIMIT))
        print(f"soak: drove {len(outcomes)} predictions in {time.monotonic() - began:.1f} s")
        ids = [o.id for o in outcomes if o.id]
        asyncio.run(settle_webhooks(hooks, [o.id for o in outcomes if o.plan.mode == "webhook"]))
        finals = asyncio.run(fetch_finals(srv, ids))
        fds_end = open_fds(server_pid)
        problems = check_run(outcomes, finals, watch, hooks)
    report(outcomes, finals, watch)
    if sorted(listed_ids(srv)) != sorted(ids):
        problems.append("GET /v1/predictions does not list exactly the predictions created")
    early = watch.fds[min(2, len(watch.fds) - 1)][1]
    print(f"soak: open fds early {early}, at the end {fds_end} (slack {FD_SLACK})")
    if fds_end > early + FD_SLACK:
        problems.append(f"open fds of the platform grew from {early} to {fds_end}")
    remember_instances(srv, watch)
    srv.stop()
    problems += check_leftovers(srv, ids, watch)
    assert not problems, f"seed {SEED}: {len(problems)} problems:\n" + "\n".join(problems[:60])
