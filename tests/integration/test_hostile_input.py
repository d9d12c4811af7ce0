"""Issue 9, findings 5 and 8: hostile HTTP input at the API edge, sent as an attacker would.

Oversized bodies (declared or chunked), oversized request heads, deeply nested JSON and huge
integers in cursors and headers: each is refused with a 4xx (or the connection closed), and
the server's memory does not grow with what the attacker sends.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Server

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Iterator[Server]:
    server = Server(data_dir=tmp_path_factory.mktemp("hostile") / "data", envs_dir=shared_envs_dir)
    server.start()
    yield server
    server.stop()


def rss(server: Server) -> int:
    """The server process's resident memory in bytes."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response, read until the server closes."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split()[1]), headers, body


def flood(sock: socket.socket, prefix: bytes, piece: bytes, total: int) -> tuple[int, bytes | None]:
    """Send `prefix`, then `piece` until `total` bytes or the server answers or hangs up.

    Returns the bytes sent and the start of the answer (None if the connection was reset
    before any answer could be read).
    """
    sock.sendall(prefix)
    sent = len(prefix)
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(piece)
            sent += len(piece)
        sock.settimeout(30)
        return sent, sock.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        return sent, None


def assert_problem(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"]


# Finding 5: bodies.


def test_json_body_declared_over_the_limit_is_refused_before_it_is_read(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(
            b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {srv.token}\r\n".encode()
            + f"Content-Length: {200 * MiB}\r\n\r\n".encode()
        )
        status, headers, body = read_response(sock)  # sent no body: the answer comes anyway
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert "smaller than 16 MiB" in json.loads(body)["detail"]


def test_chunked_json_body_is_refused_while_it_streams(srv: Server) -> None:
    before = rss(srv)
    piece = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # 64 KiB chunks of JSON whitespace
    with connect(srv) as sock:
        sent, answer = flood(
            sock,
            b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {srv.token}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n",
            piece,
            200 * MiB,
        )
    assert sent < 40 * MiB, "the server kept reading past the limit"
    if answer is not None:  # else the server hung up on us: refused too
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"application/problem+json" in answer
    assert rss(srv) - before < 40 * MiB


def test_chunked_upload_over_the_file_limit_is_refused(
    server_factory: object, tmp_path: Path, shared_envs_dir: Path
) -> None:
    small = Server(
        data_dir=tmp_path / "data",
        envs_dir=shared_envs_dir,
        settings={"MODELYARD_MAX_FILE_BYTES": str(2 * MiB)},
    ).start()
    try:

        def body() -> Iterator[bytes]:
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="content"; filename="f"\r\n\r\n'
            for _ in range(64):  # 64 MiB, no Content-Length
                yield b"x" * MiB

        with small.http() as http:
            response = http.post(
                "/v1/files",
                content=body(),
                headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
            )
        assert_problem(response, 413, "Files must be less than")
        with small.http() as http:
            assert http.get("/v1/files").json()["results"] == []  # nothing half-written
    finally:
        small.stop()


def test_bodies_under_the_limits_still_work(srv: Server) -> None:
    text = "x" * (4 * MiB)  # a big but legitimate JSON body: a data URL of a few MB, say
    with srv.http() as http:
        created = http.post(
            "/v1/models",
            json={
                "owner": "admin",
                "name": "hostile",
                "visibility": "private",
                "hardware": "cpu",
                "description": text[:100],
            },
        )
        assert created.status_code == 201, created.text
        response = http.post("/v1/predictions", json={"version": "0" * 64, "input": {"t": text}})
        assert response.status_code == 422, response.text  # read whole, parsed, then judged
        upload = http.post("/v1/files", files={"content": ("f.bin", b"y" * (20 * MiB))})
        assert upload.status_code == 201, upload.text


# Finding 5: request heads.


def test_headers_past_the_limit_are_refused_without_memory_growth(srv: Server) -> None:
    before = rss(srv)
    with connect(srv) as sock:
        sent, answer = flood(
            sock, b"GET /v1/predictions HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"a" * 65536, 300 * MiB
        )
    assert sent < 16 * MiB, "the server kept reading a head past the limit"
    if answer is not None:
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert b"application/problem+json" in answer
    assert rss(srv) - before < 8 * MiB


def test_many_small_headers_are_refused(srv: Server) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-H{i}: v\r\n".encode() for i in range(150)
    )
    with connect(srv) as sock:
        sock.sendall(head + b"\r\n")
        status, headers, body = read_response(sock)
    assert status == 431
    assert json.loads(body)["status"] == 431


def test_a_long_url_counts_against_the_head_limit(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"GET /health?" + b"a" * (80 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_response(sock)
    assert status == 431


def test_heads_under_the_limit_are_served_on_a_kept_alive_connection(srv: Server) -> None:
    with srv.http() as http:
        for _ in range(3):
            response = http.get("/v1/predictions", headers={"X-Pad": "a" * (32 * 1024)})
            assert response.status_code == 200, response.text
        headers = {f"X-H{i}": "v" for i in range(80)}
        assert http.get("/v1/predictions", headers=headers).status_code == 200


def test_whole_requests_larger_than_a_head_in_one_write_are_served(srv: Server) -> None:
    body = b'{"version": "' + b"0" * 64 + b'", "input": {"t": "' + b"x" * (200 * 1024) + b'"}}'
    request = (
        b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {srv.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with connect(srv) as sock:
        for _ in range(3):  # kept alive: each request arrives whole, the head reopens after it
            sock.sendall(request)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 422 "), answer[:200]
            length = int(answer.split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(answer.partition(b"\r\n\r\n")[2]) < length:
                answer += sock.recv(65536)


# Finding 8: nesting and integers.


def test_deep_nesting_in_input_is_a_400(srv: Server) -> None:
    deep = "[" * 5000 + "]" * 5000
    with srv.http() as http:
        for path in ("/v1/predictions", "/v1/models/admin/hostile/predictions"):
            body = '{"version": "' + "0" * 64 + '", "input": {"a": ' + deep + "}}"
            response = http.post(path, content=body, headers={"Content-Type": "application/json"})
            assert_problem(response, 400, "nested more than 64 levels")
        response = http.post(
            "/v1/predictions", content="[" * 100_000, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400, "nested more than 64 levels")
        ok = "[" * 60 + "]" * 60
        response = http.post(
            "/v1/predictions", content='{"version": "' + "0" * 64 + '", "input": {"a": ' + ok + "}}"
        )
        assert response.status_code == 422  # deep enough to be legal: judged on its merits


def test_deep_nesting_in_file_metadata_is_a_400(srv: Server) -> None:
    deep = "[" * 5000 + "]" * 5000
    with srv.http() as http:
        for metadata in ('{"a": ' + deep + "}", ("blob", ('{"a": ' + deep + "}").encode())):
            response = http.post(
                "/v1/files",
                files={"content": ("f.txt", b"hi", "text/plain"), "metadata": metadata},
            )
            assert_problem(response, 400, "nested more than 64 levels")
        assert http.get("/v1/files").json()["results"] == [] or all(
            f["name"] != "f.txt" for f in http.get("/v1/files").json()["results"]
        )


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/models/admin/hostile/versions",
        "/v1/predictions",
        "/v1/files",
        "/v1/deployments",
    ],
)
def test_huge_or_malformed_cursors_are_a_400(srv: Server, path: str) -> None:
    with srv.http() as http:
        for bad in (
            "99999999999999999999",
            cursor("p=99999999999999999999"),
            cursor("d=99999999999999999999"),
            cursor("p=-5"),
            cursor("0001-01-01T00:00:00+14:00|x"),
            cursor("9" * 5000),
            "%ff%fe",
            "a" * 5000,
        ):
            response = http.get(path, params={"cursor": bad})
            assert_problem(response, 400, "cursor is not valid")


def test_huge_integers_in_the_query_are_not_a_500(srv: Server) -> None:
    huge = "9" * 5000
    with srv.http() as http:
        for path in (
            f"/v1/files/x/download?expiry={huge}&signature=s&owner=o",
            f"/v1/deliveries/a/b?expiry={huge}&signature=s",
            f"/v1/predictions?created_after={huge}",
            f"/v1/usage?start={huge}&end={huge}",
        ):
            response = http.get(path)
            assert 400 <= response.status_code < 500, (path, response.text)


def test_nothing_above_left_a_traceback_in_the_log(srv: Server) -> None:
    time.sleep(0.2)
    log = srv.log_path.read_text()
    assert "Traceback" not in log
    assert "RecursionError" not in log
