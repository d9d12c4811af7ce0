"""Limits on what a request may carry: body size per route (refused while reading), JSON depth.

`BodyLimits` is plain ASGI middleware, so the hot path pays one scan of the header list. A body
whose `Content-Length` is over its route's limit is refused before the app runs; a body without
one (chunked) is counted as it streams and refused with 413 the moment it passes the limit.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, count
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api.problems import problem
from modelyard.core.errors import BadRequest, PayloadTooLarge

CLOSE = {"Connection": "close"}  # the rest of an oversized body is not worth reading


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """The body limit of the requests `method` + a path matching `path`, and what to tell them."""

    method: str
    path: re.Pattern[str]
    max_bytes: int
    detail: str


class BodyLimits:
    """Refuses request bodies over their route's limit (`routes`, first match) or `default`."""

    def __init__(
        self, app: ASGIApp, *, default: int, default_detail: str, routes: Sequence[RouteLimit]
    ) -> None:
        self.app = app
        self.default = (default, default_detail)
        self.limits = [(r.max_bytes, r.detail) for r in routes]
        # One regex per method, a named group per route: one match call per request.
        self.methods: dict[str, re.Pattern[str]] = {}
        for method in {r.method for r in routes}:
            self.methods[method] = re.compile(
                "|".join(
                    f"(?P<r{i}>{r.path.pattern})"
                    for i, r in enumerate(routes)
                    if r.method == method
                )
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, detail = self._limit(scope["method"], scope["path"])
        declared = _content_length(scope["headers"])
        if declared is None:
            receive = _counting(receive, limit, detail)
        elif declared > limit:
            await problem(413, PayloadTooLarge.title, detail, headers=CLOSE)(scope, receive, send)
            return
        # With a Content-Length the server delivers no more than it says: nothing to count.
        await self.app(scope, receive, send)

    def _limit(self, method: str, path: str) -> tuple[int, str]:
        pattern = self.methods.get(method)
        match = pattern.match(path) if pattern is not None else None
        if match is None or match.lastgroup is None:
            return self.default
        return self.limits[int(match.lastgroup[1:])]


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses these; count the body if one comes anyway
    return None


def _counting(receive: Receive, limit: int, detail: str) -> Receive:
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(detail, headers=CLOSE)
        return message

    return receive_counted


def size_text(n: int) -> str:
    """`n` bytes for people: `16 MiB`, `1 GiB`, `1.5 KiB`."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)  # linear: never backtracks
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # an opener adds 2, every bracket takes 1


def json_depth(raw: bytes) -> int:
    """How deep `[` and `{` nest in the JSON text `raw`, leaving out those inside strings."""
    steps = _STRING.sub(b"", raw).translate(_STEPS, _NOT_BRACKET)
    return max(map(operator.sub, accumulate(steps), count(1)), default=0)


def parse_json(raw: bytes | str, max_depth: int) -> Any:
    """`raw` parsed as JSON; BadRequest when nested deeper than `max_depth`, ValueError if not JSON.

    The depth is measured on the text first, so a hostile body never reaches the recursive
    parser (or anything after it that recurses over the value).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > max_depth and json_depth(data) > max_depth:
        raise BadRequest(
            f"The JSON is nested more than {max_depth} levels deep; send a flatter structure."
        )
    return json.loads(raw)
