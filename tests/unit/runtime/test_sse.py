from __future__ import annotations

from collections.abc import AsyncIterator

from modelyard.runtime._sse import ServerSentEvent, SSEDecoder, aiter_events


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def decode(*items: str) -> list[ServerSentEvent]:
    return [event async for event in aiter_events(lines(*items))]


async def test_named_events_are_dispatched_at_blank_lines() -> None:
    events = await decode("event: start", 'data: {"id":"p"}', "", "event: log", "data: x", "")
    assert events == [ServerSentEvent("start", '{"id":"p"}'), ServerSentEvent("log", "x")]


async def test_multi_line_data_is_joined_with_newlines() -> None:
    events = await decode("event: output", "data: first", "data:second", "data:  third", "")
    assert events == [ServerSentEvent("output", "first\nsecond\n third")]


async def test_comments_unknown_fields_and_empty_events_are_ignored() -> None:
    events = await decode(": keep-alive", "", "retry: 10", "event: x", "", "data: y\r", "")
    assert events == [ServerSentEvent("message", "y")]


async def test_an_unterminated_last_event_is_discarded() -> None:
    assert await decode("event: completed", "data: {}") == []


def test_id_field_is_kept() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("id: 7") is None
    assert decoder.feed("data") is None
    assert decoder.feed("") == ServerSentEvent("message", "", "7")
