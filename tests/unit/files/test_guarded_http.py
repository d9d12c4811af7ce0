"""DNS rebinding against the SSRF guard: a name that answers public, then 127.0.0.1."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from modelyard.core.errors import InvalidInput
from modelyard.files.fetch import fetch_url
from modelyard.files.guarded_http import guarded_client
from modelyard.files.urlguard import IPAddress, check_url_async

PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
FAST = httpx.Timeout(2.0, connect=0.5)


class RebindingResolver:
    """A hostile name server: the first answer is public, every later one is loopback."""

    def __init__(self, *answers: IPAddress) -> None:
        self.answers = list(answers) or [PUBLIC, LOOPBACK]
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


class Secret(BaseHTTPRequestHandler):
    """The internal service the attacker wants to reach; it records every request."""

    hits: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.hits.append((self.path, self.headers.get("Host", "")))
        body = b"internal secret"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a TLS handshake the client refuses ends in an error here, on purpose


def _serve(httpd: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def internal() -> Iterator[int]:
    Secret.hits = []
    yield from _serve(QuietServer(("127.0.0.1", 0), Secret))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, name: str) -> QuietServer:
    httpd = QuietServer(("127.0.0.1", 0), Secret)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return httpd


async def test_rebinding_after_the_create_time_check_is_refused_at_connect(
    internal: int,
) -> None:
    url = f"http://rebind.attacker.test:{internal}/latest/meta-data"
    resolver = RebindingResolver()
    # The check when the prediction is created sees the public answer ...
    await check_url_async(url, allow_private=False, field="image", resolver=resolver)
    # ... and the fetch, whose lookup now answers 127.0.0.1, is refused before connecting.
    with pytest.raises(InvalidInput) as info:
        await fetch_url(url, max_bytes=1000, allow_private=False, field="image", resolver=resolver)
    assert "image points to a private network address" in info.value.detail
    assert resolver.asked == ["rebind.attacker.test", "rebind.attacker.test"]
    assert Secret.hits == []


async def test_fetch_looks_up_once_and_connects_to_the_checked_address(internal: int) -> None:
    # Had the client looked the name up again it would get 127.0.0.1 and reach the server;
    # it connects to the public address it checked (unreachable here) instead.
    resolver = RebindingResolver()
    url = f"http://rebind.attacker.test:{internal}/"
    with pytest.raises(InvalidInput) as info:
        await fetch_url(url, max_bytes=1000, allow_private=False, resolver=resolver, timeout=FAST)
    assert info.value.detail.startswith("input could not be downloaded")
    assert resolver.asked == ["rebind.attacker.test"]
    assert Secret.hits == []


async def test_connection_goes_to_the_resolved_address_with_the_original_host(
    internal: int,
) -> None:
    # `files.example` has no address in real DNS: the request only arrives if the client
    # connected where the guard's lookup said, while keeping the name in the Host header.
    resolver = RebindingResolver(LOOPBACK)
    fetched = await fetch_url(
        f"http://files.example:{internal}/weights.bin",
        max_bytes=1000,
        allow_private=True,
        resolver=resolver,
    )
    assert fetched.content == b"internal secret"
    assert Secret.hits == [("/weights.bin", f"files.example:{internal}")]
    assert resolver.asked == ["files.example"]


@pytest.mark.parametrize("cert_name", ["files.example", "other.example"])
async def test_tls_sni_and_verification_use_the_original_host_name(
    ca: trustme.CA, cert_name: str
) -> None:
    # Connected to 127.0.0.1, a certificate for `files.example` is accepted (so the name, not
    # the address, was verified and sent as SNI) and one for another name is refused.
    Secret.hits = []
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    servers = _serve(_tls_server(ca, cert_name))
    port = next(servers)
    client = guarded_client(
        allow_private=True,
        field="webhook",
        timeout=FAST,
        resolver=RebindingResolver(LOOPBACK),
        verify=trusted,
    )
    try:
        async with client:
            if cert_name == "files.example":
                response = await client.get(f"https://files.example:{port}/tls")
                assert response.status_code == 200
                assert Secret.hits == [("/tls", f"files.example:{port}")]
            else:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.get(f"https://files.example:{port}/tls")
                assert Secret.hits == []
    finally:
        next(servers, None)


async def test_private_answer_is_refused_and_allowed_with_the_setting(internal: int) -> None:
    url = f"http://intranet.example:{internal}/"
    with pytest.raises(InvalidInput) as info:
        await fetch_url(
            url, max_bytes=1000, allow_private=False, resolver=RebindingResolver(LOOPBACK)
        )
    assert "--allow-private-networks" in info.value.detail
    assert Secret.hits == []
    fetched = await fetch_url(
        url, max_bytes=1000, allow_private=True, resolver=RebindingResolver(LOOPBACK)
    )
    assert fetched.content == b"internal secret"


async def test_name_without_addresses_is_refused() -> None:
    async def nothing(host: str, port: int) -> list[IPAddress]:
        return []

    async def fails(host: str, port: int) -> list[IPAddress]:
        raise OSError("no such name")

    for resolver in (nothing, fails):
        with pytest.raises(InvalidInput) as info:
            await fetch_url("http://gone.example/", max_bytes=10, allow_private=True,
                            resolver=resolver)  # fmt: skip
        assert info.value.detail == "input has a host name that could not be resolved"
