"""HTTP clients for user-given URLs: each connection goes to an address the SSRF guard checked.

httpx resolves a host name itself when it connects, after any check made before the request,
so a name server that answers a public address to the check and 127.0.0.1 to the connection
(DNS rebinding) would slip through. Here the connection pool's network backend does the lookup:
once per connection, every address checked, then a connection to one of those addresses. The
URL, the `Host` header and TLS (SNI and certificate verification) keep the original host name.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import anyio
import httpcore
import httpx

from modelyard.files.urlguard import Resolver, resolve_checked

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses `resolve_checked` returned.

    Raises InvalidInput naming `field` when the host's addresses are refused (it passes
    through httpx unchanged), and httpcore's ConnectError / ConnectTimeout as usual.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        field: str,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.field = field
        self.resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve_checked(
                    host,
                    port,
                    allow_private=self.allow_private,
                    field=self.field,
                    resolver=self.resolver,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("the host name lookup timed out") from exc
        failure = httpcore.ConnectError("the host has no address to connect to")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not reachable through the SSRF guard")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on a `GuardedBackend`; never via a proxy."""

    def __init__(
        self,
        *,
        allow_private: bool,
        field: str,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(trust_env=False)
        # httpx has no argument for the network backend: the pool is made here as httpx
        # makes it (tests/unit/files/test_guarded_http.py fails if this stops being used).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(
                allow_private=allow_private, field=field, resolver=resolver
            ),
        )


def guarded_client(
    *,
    allow_private: bool,
    field: str,
    timeout: httpx.Timeout,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An httpx client for URLs users give: no proxies from the environment, no redirects
    followed by itself (callers check each hop), connections only to checked addresses."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_private=allow_private, field=field, resolver=resolver, verify=verify
        ),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
