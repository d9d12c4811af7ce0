"""SSRF guard: refuse URLs that are not http(s) or that reach private network addresses.

A host name is looked up once, every address it has is checked, and the connection goes to one
of those checked addresses (`files.guarded_http`): a second lookup, which a rebinding name
server could answer with 127.0.0.1, never happens between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

import anyio.to_thread

from modelyard.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Looks up a host name (never an address literal): (name, port) -> its addresses.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


def check_url(url: str, *, allow_private: bool, field: str) -> None:
    """Raise InvalidInput naming `field` unless `url` may be fetched by the platform.

    The URL must be http or https with a host. Unless `allow_private`, every address the host
    resolves to must be public: loopback, link-local, private (RFC 1918, fc00::/7),
    unspecified, multicast and reserved addresses are refused, also in IPv4-mapped form.
    Resolving a name blocks; async code calls `check_url_async`.
    """
    host, port = _target(url, field)
    if allow_private:
        return
    addresses = _literal(host)
    if addresses is None:
        try:
            addresses = _getaddrinfo(host, port)
        except (OSError, UnicodeError) as exc:
            raise _unresolvable(field) from exc
    _refuse_private(addresses, field)


async def check_url_async(
    url: str, *, allow_private: bool, field: str, resolver: Resolver | None = None
) -> None:
    """`check_url` with the name looked up by `resolver` (default: the system's, in a thread).

    This answers early (a 422 when a prediction is created); the connection made later is
    checked again on its own lookup by `guarded_http`, so a name that changes its answer in
    between is still refused.
    """
    host, port = _target(url, field)
    if not allow_private:
        await resolve_checked(host, port, allow_private=False, field=field, resolver=resolver)


def check_url_form(url: str, *, allow_private: bool, field: str) -> None:
    """The checks of `check_url` that need no name lookup: scheme, host, port, address literals.

    Used before each hop of a request whose connection goes through `guarded_http`, which
    looks the name up and checks its addresses when it connects.
    """
    host, _ = _target(url, field)
    literal = _literal(host)
    if literal is not None and not allow_private:
        _refuse_private(literal, field)


async def resolve_checked(
    host: str, port: int, *, allow_private: bool, field: str, resolver: Resolver | None = None
) -> list[IPAddress]:
    """The addresses of `host`, looked up once; unless `allow_private`, all of them public.

    Raises InvalidInput naming `field` when the name does not resolve or any address is
    private. Address literals and `localhost` names are answered without a lookup.
    """
    addresses = _literal(host)
    if addresses is None:
        try:
            addresses = await (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise _unresolvable(field) from exc
    if not addresses:
        raise _unresolvable(field)
    if not allow_private:
        _refuse_private(addresses, field)
    return addresses


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the operating system's resolver gives for `host` (raises OSError)."""
    return await anyio.to_thread.run_sync(_getaddrinfo, host, port)


def is_private_address(address: IPAddress) -> bool:
    """True for any address a user's URL must not reach unless the operator allows it."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and is_private_address(embedded):
        return True
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _target(url: str, field: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"{field} must be a valid http or https URL") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidInput(f"{field} must be an http or https URL")
    if not parts.hostname:
        raise InvalidInput(f"{field} must be an http or https URL with a host")
    return parts.hostname, port or _default_port(parts)


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme.lower() == "https" else 80


def _literal(host: str) -> list[IPAddress] | None:
    """The address a host stands for without asking a name server, or None for a name."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761: always loopback, whatever a resolver says.
        return [_LOOPBACK]
    return None


def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host.rstrip(".").lower(), port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _unresolvable(field: str) -> InvalidInput:
    return InvalidInput(f"{field} has a host name that could not be resolved")


def _refuse_private(addresses: list[IPAddress], field: str) -> None:
    if not addresses or any(is_private_address(address) for address in addresses):
        raise InvalidInput(
            f"{field} points to a private network address, which this platform refuses. "
            "An operator can allow such addresses with --allow-private-networks "
            "(MODELYARD_ALLOW_PRIVATE_NETWORKS=1)."
        )
