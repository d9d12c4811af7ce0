"""An httpx client tuned for talking to a coglet process over loopback.

coglet's server does not set TCP_NODELAY, so after an SSE response's headers it holds each
small event until the previous segment is acknowledged, and Linux delays that ACK by 40 ms:
every streamed prediction took 44 ms instead of 4 ms. Re-arming TCP_QUICKACK before each
read makes the client acknowledge at once; TCP_NODELAY on our side stops the same stall on
request bodies.
"""

from __future__ import annotations

import socket
from typing import Any

import httpcore
import httpx

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _CoalescingStream(httpcore.AsyncNetworkStream):
    """Sends a request's head and body in one write, when the response is first read: each
    write wakes the relay and coglet, and a wake-up between processes is the dearest part of
    a loopback call on a small VM."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending: list[bytes] = []

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush(timeout)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._pending.append(buffer)

    async def _flush(self, timeout: float | None) -> None:
        if self._pending:
            buffer = b"".join(self._pending)
            self._pending.clear()
            await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _QuickAckStream(_CoalescingStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        super().__init__(inner)
        self._sock = inner.get_extra_info("socket") if _QUICKACK is not None else None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._sock is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except (OSError, AttributeError):
                self._sock = None
        return await super().read(max_bytes, timeout)


class _QuickAckBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _QuickAckStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return _CoalescingStream(
            await self._inner.connect_unix_socket(path, timeout, socket_options)
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _LoopbackTransport(httpx.AsyncHTTPTransport):
    def __init__(self, max_connections: int, uds: str | None = None) -> None:
        # Plain HTTP on loopback: no TLS context (loading the CA bundle took 60-300 ms of
        # every instance start, on the cold-start path).
        super().__init__(verify=False, trust_env=False)
        # httpx==0.28 builds its httpcore pool privately and takes no network backend.
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=_QuickAckBackend(),
            uds=uds,
            # TCP options do not apply to a Unix socket (the sandbox's relay sets them).
            socket_options=None if uds else [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )


def loopback_client(
    base_url: str, *, max_connections: int, uds: str | None = None
) -> httpx.AsyncClient:
    """A keep-alive client for one coglet server (over TCP, or the Unix socket `uds`)."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=_LoopbackTransport(max_connections, uds),
        timeout=httpx.Timeout(10.0),
        trust_env=False,
    )
