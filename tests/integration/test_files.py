"""Files: /v1/files round trips, file inputs of every kind, file outputs inside objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import replicate

from tests.integration.harness import Server
from tests.integration.receiver import receiver


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def expected(data: bytes) -> str:
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


def test_upload_list_get_download_delete(server: Server, tmp_path: Path) -> None:
    c = client(server)
    path = tmp_path / "notes.txt"
    path.write_bytes(b"some notes\n")
    created = c.files.create(path, metadata={"purpose": "test"})
    assert created.name == "notes.txt" and created.size == 11
    assert created.content_type == "text/plain"
    assert created.checksums["sha256"] == hashlib.sha256(b"some notes\n").hexdigest()
    assert created.metadata == {"purpose": "test"}
    assert created.urls["get"] == f"{server.url}/v1/files/{created.id}"
    assert c.files.get(created.id).etag == created.etag
    assert created.id in [f.id for f in c.files.list()]
    with server.http() as http:
        assert http.get(f"/v1/files/{created.id}/download").content == b"some notes\n"
        assert httpx.get(f"{server.url}/v1/files/{created.id}/download").status_code == 404
    assert c.files.delete(created.id) is True
    with server.http() as http:
        r = http.get(f"/v1/files/{created.id}")
        assert r.status_code == 404 and r.headers["content-type"].startswith(
            "application/problem+json"
        )


def test_js_and_stainless_multipart_shapes(server: Server) -> None:
    with server.http() as http:
        js = http.post(
            "/v1/files",
            files={
                "content": ("buffer_1", b"\x00\x01", "application/octet-stream"),
                "metadata": ("blob", b'{"a": 1}', "application/json"),
            },
        )
        assert js.status_code == 201 and js.json()["metadata"] == {"a": 1}
        stainless = http.post(
            "/v1/files",
            data={"filename": "x.json", "type": "application/json", "metadata[k]": "v"},
            files={"content": ("upload", b"{}", "application/octet-stream")},
        )
        body = stainless.json()
        assert stainless.status_code == 201
        assert (body["name"], body["content_type"], body["metadata"]) == (
            "x.json",
            "application/json",
            {"k": "v"},
        )


def test_upload_over_100_mib_is_413(server: Server) -> None:
    big = b"\0" * (101 * 1024 * 1024)
    with server.http() as http:
        r = http.post("/v1/files", files={"content": ("big.bin", big, "application/octet-stream")})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "100MB" in r.json()["detail"]


def test_file_inputs_by_upload_base64_data_url_and_http(server: Server, tmp_path: Path) -> None:
    c = client(server)
    data = b"\x89binary\x00payload" * 100
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with open(path, "rb") as handle:  # uploaded through /v1/files by the client
        assert c.run("admin/filesize", input={"file": handle}) == expected(data)
    assert c.run(
        "admin/filesize", input={"file": path}, file_encoding_strategy="base64"
    ) == expected(data)
    uploaded = c.files.create(path)
    assert c.run("admin/filesize", input={"file": uploaded.urls["get"]}) == expected(data)
    with receiver() as files:
        files.files["/data/input.bin"] = data
        assert c.run("admin/filesize", input={"file": f"{files.url}/data/input.bin"}) == expected(
            data
        )
        # A URL that cannot be fetched fails the prediction with a clear error.
        prediction = c.predictions.create(
            model="admin/filesize", input={"file": f"{files.url}/missing"}
        )
        prediction.wait()
    assert prediction.status == "failed" and "could not be downloaded" in prediction.error


def test_path_inside_object_output_becomes_a_platform_url(server: Server) -> None:
    output = client(server).run("admin/objfile", input={})
    assert output["label"] == "ok"
    url = output["file"]
    assert url.startswith(f"{server.url}/v1/deliveries/")
    assert httpx.get(url).content == b"inside an object"
