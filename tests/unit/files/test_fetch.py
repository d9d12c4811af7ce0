from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from modelyard.core.errors import InvalidInput, PayloadTooLarge
from modelyard.files.fetch import FetchedFile, decode_data_url, fetch_url

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path
        if path == "/" or path.startswith("/files/"):
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/named":
            disposition = 'attachment; filename="../../etc/report.pdf"'
            self._send(
                200,
                b"%PDF",
                {"Content-Type": "application/pdf", "Content-Disposition": disposition},
            )
        elif path == "/utf8-name":
            disposition = "attachment; filename*=UTF-8''na%C3%AFve.txt"
            self._send(200, b"hi", {"Content-Disposition": disposition})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/chain/{left - 1}" if left > 1 else "/files/end.png"
            self._send(302, b"", {"Location": target})
        elif path == "/to-ftp":
            self._send(302, b"", {"Location": "ftp://93.184.216.34/x"})
        elif path == "/big":
            self._send(200, b"x" * 2000, {})
        elif path == "/big-unsized":
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"y" * 100)
        elif path == "/slow":
            time.sleep(0.5)
            self._send(200, b"late", {})
        else:
            self._send(404, b"nope", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # The size and timeout tests hang up on purpose: no broken-pipe tracebacks.


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_fetches_bytes_type_and_name_from_path(server: str) -> None:
    fetched = await fetch_url(f"{server}/files/my%20photo.png", max_bytes=1000, allow_private=True)
    assert fetched == FetchedFile(PNG, "image/png", "my photo.png")


async def test_filename_comes_from_content_disposition(server: str) -> None:
    fetched = await fetch_url(f"{server}/named", max_bytes=1000, allow_private=True)
    assert (fetched.filename, fetched.content_type) == ("report.pdf", "application/pdf")
    fetched = await fetch_url(f"{server}/utf8-name", max_bytes=1000, allow_private=True)
    assert fetched.filename == "naïve.txt"


async def test_filename_comes_from_the_final_url(server: str) -> None:
    fetched = await fetch_url(f"{server}/chain/1", max_bytes=1000, allow_private=True)
    assert fetched.filename == "end.png"


async def test_nameless_path_gets_a_default_name(server: str) -> None:
    fetched = await fetch_url(f"{server}/", max_bytes=1000, allow_private=True)
    assert fetched.filename == "file.png"


async def test_follows_up_to_three_redirects(server: str) -> None:
    fetched = await fetch_url(f"{server}/chain/3", max_bytes=1000, allow_private=True)
    assert fetched.content == PNG


async def test_refuses_a_fourth_redirect(server: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await fetch_url(f"{server}/chain/4", max_bytes=1000, allow_private=True)
    assert info.value.detail == "input could not be downloaded: more than 3 redirects"


async def test_redirect_to_another_scheme_is_refused(server: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await fetch_url(f"{server}/to-ftp", max_bytes=1000, allow_private=True, field="audio")
    assert info.value.detail == "audio must be an http or https URL"


async def test_private_server_is_refused_without_permission(server: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await fetch_url(f"{server}/files/a.png", max_bytes=1000, allow_private=False)
    assert "--allow-private-networks" in info.value.detail


async def test_redirect_to_private_address_is_refused_on_each_hop() -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(InvalidInput) as info:
            await fetch_url(
                "http://93.184.216.34/img.png", max_bytes=10, allow_private=False, client=client
            )
    assert "private network" in info.value.detail
    assert requested == ["http://93.184.216.34/img.png"]


async def test_declared_oversize_body_is_refused(server: str) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        await fetch_url(f"{server}/big", max_bytes=1000, allow_private=True)
    assert info.value.status == 413


async def test_streamed_oversize_body_is_cut_off(server: str) -> None:
    with pytest.raises(PayloadTooLarge):
        await fetch_url(f"{server}/big-unsized", max_bytes=1000, allow_private=True)
    fetched = await fetch_url(f"{server}/big-unsized", max_bytes=2000, allow_private=True)
    assert fetched.content == b"y" * 2000
    assert fetched.content_type == "application/octet-stream"


async def test_error_status_is_invalid_input(server: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await fetch_url(f"{server}/missing?token=s3cret", max_bytes=10, allow_private=True)
    assert info.value.detail == "input could not be downloaded: the server answered HTTP 404"


async def test_connection_failure_is_invalid_input() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InvalidInput) as info:
        await fetch_url(f"http://127.0.0.1:{port}/", max_bytes=10, allow_private=True)
    assert info.value.detail == "input could not be downloaded: could not connect to the host"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_timeout_is_invalid_input(server: str) -> None:
    async with httpx.AsyncClient(timeout=0.1) as client:
        with pytest.raises(InvalidInput) as info:
            await fetch_url(f"{server}/slow", max_bytes=10, allow_private=True, client=client)
    assert info.value.detail == "input could not be downloaded: the request timed out"


def test_data_url_base64() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert decode_data_url(url, max_bytes=1000, field="image") == FetchedFile(
        PNG, "image/png", "file.png"
    )


def test_data_url_percent_encoded_with_defaults() -> None:
    fetched = decode_data_url("data:,hello%20world%0A", max_bytes=100, field="text")
    assert fetched.content == b"hello world\n"
    assert fetched.content_type == "text/plain;charset=US-ASCII"


def test_data_url_keeps_parameters_and_name() -> None:
    url = "data:text/csv;charset=utf-8;name=a%20b.csv,x%2Cy"
    fetched = decode_data_url(url, max_bytes=100, field="table")
    assert fetched == FetchedFile(b"x,y", "text/csv;charset=utf-8", "a b.csv")


def test_data_url_base64_without_padding() -> None:
    fetched = decode_data_url("data:application/octet-stream;base64,QQ", max_bytes=10, field="f")
    assert fetched.content == b"A"


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,@@@@", "data:image/png;base64", "http://x/", "data:;base64,Q"]
)
def test_bad_data_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_data_url(url, max_bytes=100, field="image")
    assert info.value.detail.startswith("image is not a valid data URL")


def test_data_url_over_limit_is_refused() -> None:
    encoded = base64.b64encode(b"z" * 101).decode()
    with pytest.raises(PayloadTooLarge):
        decode_data_url(f"data:;base64,{encoded}", max_bytes=100, field="image")
    with pytest.raises(PayloadTooLarge):
        decode_data_url("data:," + "a" * 101, max_bytes=100, field="image")
