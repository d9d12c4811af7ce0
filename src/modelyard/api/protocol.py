"""uvicorn's httptools protocol with limits on the request head (request line and headers).

httptools hands a header over only once it is complete, buffering it until then, so the limit is
kept on the bytes that arrive while a head is still open, chunk by chunk, and checked exactly
(bytes and number of fields) when the head completes. Over either limit the connection gets a
431 problem+json and is closed before the app sees the request.
"""

from __future__ import annotations

import json
import logging
from typing import NoReturn

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)


class HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head over the limits."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Refuses request heads over `max_head_bytes` or with more than `max_headers` fields."""

    max_head_bytes = 64 * 1024
    max_headers = 100

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._head_open = True  # a request head has begun or may begin with the next byte
        self._head_bytes = 0
        self._heads_done = 0  # heads completed on this connection
        self._refused = False
        self._too_large = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        was_open, heads_done = self._head_open, self._heads_done
        super().data_received(data)
        if was_open and self._head_open and heads_done == self._heads_done and not self._refused:
            # The whole chunk went into a head that is still incomplete (and buffered); a
            # chunk holding a whole request (head, body, end) reopens the head but is not one.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.max_headers:
            self._stop()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._heads_done += 1
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.max_head_bytes:
            self._stop()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True
        self._head_bytes = 0

    def _stop(self) -> NoReturn:
        self._too_large = True  # httptools wraps the error and uvicorn answers it with a 400
        raise HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any error raised in a parser callback with this; ours get a 431.
        if self._too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        detail = (
            f"The request line and headers must be under {self.max_head_bytes} bytes "
            f"and {self.max_headers} fields."
        )
        body = json.dumps(
            {"title": "Request Header Fields Too Large", "detail": detail, "status": 431}
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        logger.warning("refused a request head over the limits from %s", self.client)
        self.transport.write(head + body)
        self.transport.close()


def limited_protocol(max_head_bytes: int, max_headers: int) -> type[LimitedHttpToolsProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for these limits."""

    class Limited(LimitedHttpToolsProtocol):
        pass

    Limited.max_head_bytes = max_head_bytes
    Limited.max_headers = max_headers
    return Limited
