"""A training's events from coglet's webhooks (runtime/_training.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from modelyard.runtime._training import WebhookFeed
from modelyard.runtime.instance import Done, Log, Started


def accepted() -> httpx.Response:
    return httpx.Response(202, json={"id": "t1", "status": "starting"})


async def collect(feed: WebhookFeed, response: httpx.Response, exited: asyncio.Event) -> list[Any]:
    return [event async for event in feed.events(response, exited)]


def test_logs_arrive_as_new_text_and_late_or_shorter_payloads_are_ignored() -> None:
    async def main() -> list[Any]:
        feed = WebhookFeed()
        for payload in (
            {"status": "processing", "logs": ""},
            {"status": "processing", "logs": "a\n"},
            {"status": "processing", "logs": "a\nb\n"},
            {"status": "processing", "logs": "a\n"},  # an earlier delivery arriving late
            {"status": "succeeded", "logs": "a\nb\nc\n", "output": {"weights": "data:,x"}},
            {"status": "processing", "logs": "a\nb\nc\nd\n"},  # after the end: not read
        ):
            feed.offer(payload)
        return await collect(feed, accepted(), asyncio.Event())

    events = asyncio.run(main())
    assert events[0] == Started()
    assert [e.text for e in events if isinstance(e, Log)] == ["a\n", "b\n", "c\n"]
    done = events[-1]
    assert isinstance(done, Done) and done.status == "succeeded"
    assert done.output == {"weights": "data:,x"}


def test_a_failed_training_keeps_cogs_reason_without_the_prediction_prefix() -> None:
    async def main() -> list[Any]:
        feed = WebhookFeed()
        feed.offer(
            {
                "status": "failed",
                "logs": "x\n",
                "error": "Prediction failed: Training failed: ValueError: no",
            }
        )
        return await collect(feed, accepted(), asyncio.Event())

    done = asyncio.run(main())[-1]
    assert isinstance(done, Done) and done.error == "Training failed: ValueError: no"


def test_the_events_end_without_done_when_the_process_exits() -> None:
    async def main() -> list[Any]:
        feed, exited = WebhookFeed(), asyncio.Event()
        feed.offer({"status": "processing", "logs": "a\n"})
        asyncio.get_running_loop().call_later(0.05, exited.set)
        return await asyncio.wait_for(collect(feed, accepted(), exited), 5)

    events = asyncio.run(main())
    assert events == [Started(), Log("a\n")]  # the instance reports the loss itself


def test_a_refused_input_is_a_failed_done_without_start() -> None:
    refused = httpx.Response(
        422,
        json={"detail": [{"loc": ["body", "input", "lines"], "msg": "Field required"}]},
    )

    async def main() -> list[Any]:
        return await collect(WebhookFeed(), refused, asyncio.Event())

    events = asyncio.run(main())
    assert len(events) == 1 and isinstance(events[0], Done)
    assert events[0].status == "failed" and "lines" in (events[0].error or "")
