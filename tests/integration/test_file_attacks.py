"""Attacks on stored files and signed URLs (issue 9, findings 4 and 9), each refused.

alice and bob are ordinary accounts. The server's signing secret is set by the test, so it can
mint the `/v1/files/{id}/download` signatures Replicate's clients are handed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest

from modelyard.files import signing
from modelyard.files.signing import Kind
from tests.integration.harness import Server

SECRET = "file-attacks-test-secret-0123456789abcdef"
SCRIPT = b"<html><script>fetch('/v1/account').then(r => r.text()).then(alert)</script></html>"


def token_for(server: Server, user: str) -> str:
    result = server.cli("tokens", "create", "--user", user, "--name", "file-attacks")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Iterator[dict]:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("file-attacks")
    srv = Server(
        data_dir=tmp / "data",
        envs_dir=shared_envs_dir,
        settings={"MODELYARD_SECRET_KEY": SECRET},
    ).start()
    try:
        for user in ("alice", "bob"):
            result = srv.cli("users", "create", user)
            assert result.returncode == 0, result.stdout + result.stderr
        for scenario in ("file-forger", "image", "echo", "filesize"):
            srv.push(scenario, f"admin/{scenario}", "--public")
        http = {
            user: httpx.Client(
                base_url=srv.url,
                headers={"Authorization": f"Token {token_for(srv, user)}"},
                timeout=120,
            )
            for user in ("alice", "bob")
        }
        yield {"server": srv, **http}
        for client in http.values():
            client.close()
    finally:
        srv.stop()


def run(http: httpx.Client, model: str, expect: str = "succeeded", **inputs: object) -> dict:  # type: ignore[type-arg]
    r = http.post(
        f"/v1/models/admin/{model}/predictions", json={"input": inputs}, headers={"Prefer": "wait"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def upload(http: httpx.Client, name: str, data: bytes, content_type: str) -> dict:  # type: ignore[type-arg]
    r = http.post("/v1/files", files={"content": (name, data, content_type)})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def alices_output(world: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    """A file alice's prediction wrote: (its signed delivery URL, its storage key)."""
    prediction = run(world["alice"], "image")
    url = prediction["output"]
    assert url.startswith(f"{world['server'].url}/v1/deliveries/"), url
    key = urlsplit(url).path.removeprefix("/v1/deliveries/")
    assert key == f"predictions/{prediction['id']}/square.png"
    return url, key


def signed_download(file_id: str, owner: str, ttl: int = 300) -> str:
    expiry, sig = signing.sign(SECRET.encode(), Kind.FILE_DOWNLOAD, (file_id, owner), ttl)
    query = urlencode({"owner": owner, "expiry": expiry, "signature": sig})
    return f"/v1/files/{file_id}/download?{query}"


def test_markers_in_inputs_are_never_signed(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    alice, bob = world["alice"], world["bob"]
    _, key = alices_output(world)
    for forged in (f"modelyard://files/{key}", f"{srv.url}/internal/files/{key}"):
        prediction = run(bob, "echo", text=forged)
        fetched = bob.get(f"/v1/predictions/{prediction['id']}").json()
        for body in (prediction, fetched):
            assert body["input"] == {"text": forged}
            assert body["output"] == forged
    # A model's cover image is stored data too.
    created = bob.post(
        "/v1/models", json={"owner": "bob", "name": "cover", "cover_image_url": forged}
    )
    assert created.status_code in (200, 201), created.text
    assert bob.get("/v1/models/bob/cover").json()["cover_image_url"] == forged

    # A file input is an http(s) or data: URL: a marker naming a raw key, or even a file id, is
    # refused before anything is stored; another account's file by its API URL is refused too.
    theirs = upload(alice, "a.bin", b"alice's bytes", "application/octet-stream")
    for caller, value in (
        (bob, f"modelyard://files/{key}"),
        (bob, f"modelyard://files/{theirs['id']}"),
        (alice, f"modelyard://files/{theirs['id']}"),
        (bob, theirs["urls"]["get"]),
    ):
        r = caller.post("/v1/models/admin/filesize/predictions", json={"input": {"file": value}})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


def test_markers_in_outputs_are_never_signed(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    _, key = alices_output(world)
    prediction = run(
        world["bob"], "file-forger", key=key, internal_prefix=f"{srv.url}/internal/files/"
    )
    forged = [f"modelyard://files/{key}", f"{srv.url}/internal/files/{key}"]
    assert prediction["output"] == forged
    assert world["bob"].get(prediction["urls"]["get"]).json()["output"] == forged


def test_delivery_and_download_signatures_cannot_stand_in_for_each_other(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    alice = world["alice"]
    delivery, key = alices_output(world)
    file = upload(alice, "a.txt", b"alice's file", "text/plain")
    assert httpx.get(f"{srv.url}{signed_download(file['id'], 'alice')}").content == b"alice's file"

    # A delivery URL's signature replayed as a file download.
    query = dict(p.split("=", 1) for p in urlsplit(delivery).query.split("&"))
    for owner in ("alice", key, f"predictions/{key}"):
        replay = urlencode({"owner": owner, **query})
        r = httpx.get(f"{srv.url}/v1/files/{file['id']}/download?{replay}")
        assert r.status_code == 404, r.text
    # A file download's signature replayed as a delivery of the file's stored bytes.
    download = dict(
        p.split("=", 1) for p in urlsplit(signed_download(file["id"], "alice")).query.split("&")
    )
    replay = urlencode({"expiry": download["expiry"], "signature": download["signature"]})
    for stored in (f"files/{file['id']}/a.txt", file["id"], f"alice {file['id']}"):
        r = httpx.get(f"{srv.url}/v1/deliveries/{quote(stored)}?{replay}")
        assert r.status_code == 404, r.text
    # Tampering and expiry still hold.
    expired = signed_download(file["id"], "alice", ttl=-1)
    assert httpx.get(f"{srv.url}{expired}").status_code == 404
    assert httpx.get(f"{srv.url}/v1/deliveries/{key}?{urlencode(query)}x").status_code == 404


def test_another_accounts_file_is_refused_even_with_a_valid_signature(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    alice, bob = world["alice"], world["bob"]
    theirs = upload(alice, "secret.txt", b"alice's secret", "text/plain")
    ours = upload(bob, "mine.txt", b"bob's own", "text/plain")
    bobs = signed_download(ours["id"], "bob")
    assert httpx.get(f"{srv.url}{bobs}").content == b"bob's own"
    query = urlsplit(bobs).query
    stolen = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in query.split("&")}
    attempts = [
        f"/v1/files/{theirs['id']}/download?{query}",  # bob's signature, alice's id
        f"/v1/files/{theirs['id']}/download?{urlencode({**stolen, 'owner': 'alice'})}",
        f"/v1/files/{theirs['id']}/download",
    ]
    for path in attempts:
        for client in (bob, httpx.Client(base_url=srv.url)):
            r = client.get(path)
            assert r.status_code == 404 and b"alice's secret" not in r.content, path
    # Deleted files are gone, even behind a signature that has not expired.
    alices = signed_download(theirs["id"], "alice")
    assert httpx.get(f"{srv.url}{alices}").content == b"alice's secret"
    assert alice.delete(f"/v1/files/{theirs['id']}").status_code == 204
    assert httpx.get(f"{srv.url}{alices}").status_code == 404


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("page.html", "text/html", "attachment"),
        ("image.svg", "image/svg+xml", "attachment"),
        ("code.js", "text/javascript", "attachment"),
        ("blob", "application/octet-stream", "attachment"),
        ("photo.png", "image/png", "inline"),
        ("notes.txt", "text/plain", "inline"),
    ],
)
def test_uploaded_files_are_served_so_they_cannot_run_as_the_api(
    world: dict,  # type: ignore[type-arg]
    name: str,
    content_type: str,
    disposition: str,
) -> None:
    srv: Server = world["server"]
    alice = world["alice"]
    file = upload(alice, name, SCRIPT, content_type)
    for response in (
        alice.get(f"/v1/files/{file['id']}/download"),
        httpx.get(f"{srv.url}{signed_download(file['id'], 'alice')}"),
    ):
        assert response.status_code == 200 and response.content == SCRIPT
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["content-disposition"].startswith(f"{disposition}; filename=")
        assert response.headers["content-type"].split(";")[0] == content_type


def test_output_deliveries_carry_the_same_headers(world: dict) -> None:  # type: ignore[type-arg]
    delivery, _ = alices_output(world)
    response = httpx.get(delivery)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith('inline; filename="square.png"')


def test_uploads_for_a_prediction_that_is_not_processing_are_refused(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    alice, bob = world["alice"], world["bob"]
    image = run(alice, "image")
    forger = run(alice, "file-forger")  # finished on the instance the attacks run on
    for victim in (image, forger):
        for attacker in (alice, bob):
            output = run(attacker, "file-forger", victim=victim["id"])["output"]
            report = json.loads(output[-1])
            assert report["found"] >= 1, "the model found no upload URL to attack"
            assert all(status in (404, 409) for status in report["statuses"]), report
    stored = srv.data_dir / "files" / "predictions"
    assert sorted(p.name for p in (stored / image["id"]).iterdir()) == ["square.png"]
    assert not (stored / forger["id"]).exists()
    # The upload endpoint itself still works: a prediction's own outputs arrive.
    alices_output(world)
