from __future__ import annotations

import httpx
import pytest
from replicate.client import Client
from replicate.stream import EventSource, ServerSentEvent

from modelyard.api.sse import KEEPALIVE, event_id, format_event


def parse(stream: bytes) -> list[ServerSentEvent]:
    """Read `stream` with the official replicate 1.0.7 client's SSE parser."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
    return list(EventSource(Client(api_token="r8_test"), response))


def test_wire_format_of_one_event() -> None:
    assert format_event("output", " world", "1690212292:3") == (
        b"event: output\nid: 1690212292:3\ndata:  world\n\n"
    )


def test_empty_payload_is_one_empty_data_line() -> None:
    assert format_event("output", "", "1:0") == b"event: output\nid: 1:0\ndata: \n\n"


def test_multiline_payload_is_one_data_line_per_line() -> None:
    assert format_event("logs", "a\nb\r\nc", "1:0") == (
        b"event: logs\nid: 1:0\ndata: a\ndata: b\ndata: c\n\n"
    )


@pytest.mark.parametrize("name", ["ping", "message", "", "OUTPUT"])
def test_only_replicate_event_names_are_allowed(name: str) -> None:
    with pytest.raises(ValueError):
        format_event(name, "x", "1:0")


def test_id_must_be_a_single_line() -> None:
    with pytest.raises(ValueError):
        format_event("output", "x", "1:0\ndata: injected")


def test_event_id_is_unix_seconds_and_sequence() -> None:
    assert event_id(0, 1690212292.987) == "1690212292:0"
    assert event_id(42, 1690212292) == "1690212292:42"


def test_replicate_client_reads_tokens_chunks_and_done_exactly() -> None:
    chunks = ["Hello", " world", "", "line one\nline two\n", "  two spaces", "tab\tend "]
    stream = KEEPALIVE
    for seq, chunk in enumerate(chunks):
        stream += format_event("output", chunk, event_id(seq, 1690212292.5))
        stream += KEEPALIVE
    stream += format_event("logs", "loading weights\n", event_id(len(chunks), 1690212292))
    stream += format_event("done", '{"reason":"canceled"}', event_id(len(chunks) + 1, 1690212293))
    stream += format_event("output", "after done", "1690212293:99")

    events = parse(stream)

    assert [str(event) for event in events[: len(chunks)]] == chunks
    assert [event.id for event in events[: len(chunks)]] == [
        f"1690212292:{seq}" for seq in range(len(chunks))
    ]
    logs, done = events[len(chunks) :]
    assert (logs.event, logs.data) == (ServerSentEvent.EventType.LOGS, "loading weights\n")
    assert (done.event, done.data, done.id) == (
        ServerSentEvent.EventType.DONE,
        '{"reason":"canceled"}',
        "1690212293:7",
    )


def test_unicode_line_separators_reach_the_client_as_newlines() -> None:
    # httpx, under the Python client, breaks lines at U+2028 too; the text after it survives.
    events = parse(
        format_event("output", "a\u2028b\x0cc", "1:0") + format_event("done", "{}", "1:1")
    )
    assert str(events[0]) == "a\nb\nc"
    assert events[1].data == "{}"


def test_error_event_raises_in_the_client_with_its_payload() -> None:
    with pytest.raises(RuntimeError, match='"detail": "boom"'):
        parse(format_event("error", '{"detail": "boom"}', "1:0"))
