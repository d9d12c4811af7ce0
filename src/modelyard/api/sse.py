"""The server-sent events wire format of Replicate's prediction streams."""

from __future__ import annotations

import re

EVENT_NAMES = frozenset({"output", "logs", "error", "done"})
KEEPALIVE = b": keep-alive\n\n"

# The Python client reads lines through httpx, which breaks them the way `str.splitlines` does;
# writing each of those pieces as its own `data:` line keeps the text after such a character.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def format_event(event: str, data: str, id: str) -> bytes:
    """One SSE event: `event:`, `id:`, a `data: ` line per line of `data`, then a blank line.

    Exactly one space follows `data:`, since clients strip one, so the token `" world"` is
    written `data:  world`; an empty `data` is one empty `data: ` line. Line breaks in `data`
    reach clients as `\\n`. Raises ValueError for an event name other than output, logs, error
    and done (the Python client crashes on any other), or an `id` holding a line break.

        format_event("output", " world", "1690212292:3")
        # b"event: output\\nid: 1690212292:3\\ndata:  world\\n\\n"
    """
    if event not in EVENT_NAMES:
        raise ValueError(f"SSE event must be one of output, logs, error, done; got {event!r}")
    if _LINE_BREAK.search(id) or "\0" in id:
        raise ValueError("an SSE event id must not contain line breaks or NUL")
    lines = [f"event: {event}", f"id: {id}"]
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def event_id(seq: int, ts: float) -> str:
    """Replicate's event id, `<unix seconds>:<sequence>`, e.g. `1690212292:0`."""
    return f"{int(ts)}:{seq}"


def last_sequence(last_event_id: str | None) -> int | None:
    """The sequence in a `Last-Event-ID` header (`<seconds>:<sequence>`); None if absent or
    not one of ours, and the stream then starts from the beginning."""
    _, sep, seq = (last_event_id or "").strip().rpartition(":")
    return int(seq) if sep and seq.isdigit() and len(seq) < 12 else None
