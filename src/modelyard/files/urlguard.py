"""SSRF guard: refuse URLs that are not http(s) or that reach private network addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import anyio.to_thread

from modelyard.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def check_url(url: str, *, allow_private: bool, field: str) -> None:
    """Raise InvalidInput naming `field` unless `url` may be fetched by the platform.

    The URL must be http or https with a host. Unless `allow_private`, every address the host
    resolves to must be public: loopback, link-local, private (RFC 1918, fc00::/7),
    unspecified, multicast and reserved addresses are refused, also in IPv4-mapped form.
    Resolving a name blocks; async code calls `check_url_async`.
    """
    host, port = _target(url, field)
    if not allow_private:
        _refuse_private(_addresses(host, port, field), field)


async def check_url_async(url: str, *, allow_private: bool, field: str) -> None:
    """`check_url` with the name lookup run in a worker thread."""
    host, port = _target(url, field)
    if not allow_private:
        addresses = await anyio.to_thread.run_sync(_addresses, host, port, field)
        _refuse_private(addresses, field)


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


def _addresses(host: str, port: int, field: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761: always loopback, whatever a resolver says.
        return [ipaddress.IPv4Address("127.0.0.1")]
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"{field} has a host name that could not be resolved") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _refuse_private(addresses: list[IPAddress], field: str) -> None:
    if not addresses or any(is_private_address(address) for address in addresses):
        raise InvalidInput(
            f"{field} points to a private network address, which this platform refuses. "
            "An operator can allow such addresses with --allow-private-networks "
            "(MODELYARD_ALLOW_PRIVATE_NETWORKS=1)."
        )
