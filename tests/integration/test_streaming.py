"""Streaming: Replicate's SSE format, end to end through the official Python client."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import replicate

from tests.integration.harness import Server


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def raw_events(url: str, last_event_id: str | None = None) -> list[tuple[str, str, str]]:
    """(event, id, data) of a stream read without any Authorization header."""
    events, event, ident, data = [], "", "", []
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.stream("GET", url, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "":
                events.append((event, ident, "\n".join(data)))
                event, ident, data = "", "", []
    return events


def test_first_token_arrives_while_the_model_runs(server: Server) -> None:
    arrivals: list[tuple[float, str]] = []
    for event in client(server).stream("admin/tokens", input={"prefix": "hey", "pause": 2}):
        arrivals.append((time.monotonic(), str(event)))
    tokens = [text for _, text in arrivals if text]
    # A leading space and a multi-line chunk come through intact, one event per yield.
    assert tokens == ["hey", " world", "\nsecond line", "!"]
    assert arrivals[-1][0] - arrivals[0][0] >= 1.5, "the first token should arrive before the pause"


def test_every_iterator_prediction_has_a_stream_url(server: Server) -> None:
    c = client(server)
    prediction = c.predictions.create(model="admin/tokens", input={"pause": 0})  # no stream flag
    assert prediction.urls["stream"].startswith(server.url)
    plain = c.predictions.create(model="admin/echo", input={"text": "x"})
    assert "stream" not in plain.urls


def test_stream_after_completion_replays_everything(server: Server) -> None:
    c = client(server)
    prediction = c.predictions.create(
        model="admin/tokens", input={"prefix": "late", "pause": 0}, stream=True
    )
    prediction.wait()
    assert prediction.status == "succeeded"
    text = "".join(str(e) for e in prediction.stream())
    assert text == "late world\nsecond line!"
    events = raw_events(prediction.urls["stream"])
    assert [e for e, _, _ in events if e == "done"] == ["done"] and events[-1] == (
        "done",
        events[-1][1],
        "{}",
    )
    assert all(ident for _, ident, _ in events)
    assert {e for e, _, _ in events} <= {"output", "logs", "error", "done"}


def test_outputs_and_logs_grow_while_running(server: Server) -> None:
    with server.http() as http:
        created = http.post(
            "/v1/models/admin/ticker/predictions", json={"input": {"count": 15, "interval": 0.1}}
        ).json()
        seen: list[list[str]] = []
        logs_seen = False
        while True:
            body = http.get(f"/v1/predictions/{created['id']}").json()
            if body["status"] == "processing":
                seen.append(body["output"] or [])
                logs_seen = logs_seen or "tick" in (body["logs"] or "")
            if body["status"] in ("succeeded", "failed", "canceled"):
                break
            time.sleep(0.05)
    assert body["output"] == [f"t{i}" for i in range(15)]
    assert logs_seen, "logs should be visible while the model runs"
    assert len({len(s) for s in seen}) > 1, "the output should grow while the model runs"
    for earlier, later in zip(seen, seen[1:] + [body["output"]], strict=True):
        assert later[: len(earlier)] == earlier


def test_failing_stream_raises_with_the_error(server: Server) -> None:
    with pytest.raises(RuntimeError) as info:
        for _ in client(server).stream("admin/tokens-fail", input={}):
            pass
    assert "the stream broke" in str(info.value)


def test_canceled_stream_ends_with_reason_canceled(server: Server) -> None:
    c = client(server)
    prediction = c.predictions.create(model="admin/ticker", input={"count": 600, "interval": 0.05})
    while c.predictions.get(prediction.id).status != "processing":
        time.sleep(0.05)
    c.predictions.cancel(prediction.id)
    events = raw_events(prediction.urls["stream"])
    assert events[-1][0] == "done"
    assert json.loads(events[-1][2]) == {"reason": "canceled"}


def test_stream_url_needs_no_token_and_is_unguessable(server: Server) -> None:
    c = client(server)
    prediction = c.predictions.create(model="admin/tokens", input={"pause": 0})
    url = prediction.urls["stream"]
    assert httpx.get(url.rsplit("/", 1)[0] + "/wrong-token").status_code == 404
    assert any(e == "done" for e, _, _ in raw_events(url))


def test_a_reconnecting_client_resumes_after_its_last_event_id(server: Server) -> None:
    prediction = client(server).predictions.create(
        model="admin/tokens", input={"prefix": "again", "pause": 0}, stream=True
    )
    prediction.wait()
    events = raw_events(prediction.urls["stream"])
    assert len(events) >= 4
    for cut in range(len(events)):
        resumed = raw_events(prediction.urls["stream"], last_event_id=events[cut][1])
        assert resumed == events[cut + 1 :]
    assert raw_events(prediction.urls["stream"], last_event_id="not ours") == events
