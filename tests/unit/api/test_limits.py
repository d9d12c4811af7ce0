"""Request limits at the API edge: body sizes per route, JSON depth, cursors."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelyard.api import problems
from modelyard.api.limits import BodyLimits, RouteLimit, json_depth, parse_json, size_text
from modelyard.api.predictions import parse_prefer
from modelyard.core import cursors
from modelyard.core.errors import BadRequest


def make_client(read: list[int]) -> httpx.AsyncClient:
    """An app whose routes read the whole body, recording how many bytes each read."""

    async def echo(request: Request) -> JSONResponse:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        read.append(total)
        return JSONResponse({"read": total})

    app = Starlette(
        routes=[Route("/small", echo, methods=["POST"]), Route("/big", echo, methods=["PUT"])]
    )
    problems.install(app)  # type: ignore[arg-type]
    app.add_middleware(
        BodyLimits,
        default=1000,
        default_detail="too big for JSON",
        routes=[RouteLimit("PUT", re.compile(r"/big$"), 10_000, "too big for uploads")],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def chunks(n: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


async def test_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    read: list[int] = []
    response = await make_client(read).post("/small", content=b"x" * 1001)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "too big for JSON"
    assert response.headers["connection"] == "close"
    assert read == []


async def test_chunked_body_is_counted_while_it_streams_and_refused_past_the_limit() -> None:
    read: list[int] = []
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for chunk in chunks(1000):
            sent += 1
            yield chunk

    response = await make_client(read).post("/small", content=body())
    assert response.status_code == 413
    assert response.json() == {
        "title": "Payload too large",
        "detail": "too big for JSON",
        "status": 413,
    }
    assert read == []  # the route never finished reading
    assert sent <= 12  # reading stopped at the limit: 1000 bytes is 10 chunks, 100,000 were offered


async def test_bodies_within_the_limit_pass_chunked_or_not() -> None:
    read: list[int] = []
    client = make_client(read)
    assert (await client.post("/small", content=b"x" * 1000)).json() == {"read": 1000}
    assert (await client.post("/small", content=chunks(10))).json() == {"read": 1000}
    assert read == [1000, 1000]


async def test_a_route_with_its_own_limit_takes_larger_bodies_but_not_unbounded_ones() -> None:
    read: list[int] = []
    client = make_client(read)
    assert (await client.put("/big", content=chunks(100))).json() == {"read": 10_000}
    refused = await client.put("/big", content=chunks(101))
    assert refused.status_code == 413
    assert refused.json()["detail"] == "too big for uploads"
    assert (await client.put("/big", content=b"x" * 10_001)).status_code == 413


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert json_depth(b"") == 0
    assert json_depth(b'{"a": 1}') == 1
    assert json_depth(b'[[{"a": [1, 2]}], []]') == 4
    assert json_depth(b'{"a": "[[[[{{{{"}') == 1
    assert json_depth(b'{"a": "\\"[[[[", "b": ["\\\\"]}') == 2
    assert json_depth(b'["unterminated [[[[') == 1


def test_parse_json_refuses_nesting_past_the_limit_without_recursing() -> None:
    started = time.monotonic()
    for hostile in (b"[" * 100_000, b'{"input": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
        with pytest.raises(BadRequest, match="nested more than 64 levels"):
            parse_json(hostile, 64)
    assert time.monotonic() - started < 1.0


def test_parse_json_accepts_nesting_up_to_the_limit_and_strings_full_of_brackets() -> None:
    assert parse_json("[" * 64 + "]" * 64, 64) == eval("[" * 64 + "]" * 64)  # noqa: S307
    assert parse_json('{"text": "' + "[" * 10_000 + '"}', 64) == {"text": "[" * 10_000}
    with pytest.raises(ValueError):
        parse_json(b"{not json", 64)


def test_string_scan_stays_linear_on_pathological_escapes() -> None:
    hostile = b"[" * 70 + b'"' + b'\\"' * 2_000_000 + b"\\"  # 4 MB, no closing quote
    started = time.monotonic()
    assert json_depth(hostile) == 70
    assert time.monotonic() - started < 2.0


def test_size_text() -> None:
    assert size_text(16 * 1024 * 1024) == "16 MiB"
    assert size_text(1024**3) == "1 GiB"
    assert size_text(1536) == "1.5 KiB"
    assert size_text(12) == "12 bytes"


def test_cursors_round_trip() -> None:
    assert cursors.decode_id("p", cursors.encode_id("p", 42)) == 42
    assert cursors.decode(cursors.encode("2024-01-01T00:00:00Z|abc")) == "2024-01-01T00:00:00Z|abc"


@pytest.mark.parametrize(
    "cursor",
    [
        cursors.encode("p=99999999999999999999"),  # past what an SQL BIGINT holds
        cursors.encode("p=9223372036854775808"),
        cursors.encode("p=-1"),
        cursors.encode("p=1_000"),
        cursors.encode("p=١٢"),  # Arabic-Indic digits: int() takes them, we do not
        cursors.encode("p=" + "9" * 5000),
        "not base64 at all!",
        "A" * 10_000,
        "_w",  # decodes to a byte that is not UTF-8
    ],
)
def test_bad_cursors_are_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor is not valid"):
        cursors.decode_id("p", cursor)


def test_prefer_wait_with_a_huge_number_is_clamped_not_a_500() -> None:
    assert parse_prefer("wait=" + "9" * 5000) == 60  # int() refuses 4300+ digits
    assert parse_prefer("wait=" + "0" * 5000 + "5") == 5
    assert parse_prefer("wait=0") == 1
    assert parse_prefer("wait") == 60
    assert parse_prefer("wait=30") == 30
