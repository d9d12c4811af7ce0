"""Isolation between accounts: two users and an organization, every resource, every verb.

alice owns `alice/private` and is a member of the organization `acme`, which owns `acme/team`
(pushed by alice, acting for acme); bob belongs to nothing. Another account's private resource
must be answered exactly as a missing one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.cluster import MODES, start_platform
from tests.integration.harness import MODELS, Server


def distinct_model(tmp_path: Path, name: str) -> Path:
    """The echo model with a marker file, so every model gets a version id of its own."""
    directory = tmp_path / name
    shutil.copytree(MODELS / "echo", directory)
    (directory / "marker.txt").write_text(name)
    return directory


def token_for(server: Server, user: str) -> str:
    result = server.cli("tokens", "create", "--user", user, "--name", "isolation")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=120
    )


@pytest.fixture(scope="module", params=MODES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path
) -> dict:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("isolation")
    srv = start_platform(request.param, tmp, shared_envs_dir, {})
    try:
        for args in (
            ("users", "create", "alice"),
            ("users", "create", "bob"),
            ("orgs", "create", "acme", "--member", "alice"),
        ):
            result = srv.cli(*args)
            assert result.returncode == 0, result.stdout + result.stderr
        tokens = {u: token_for(srv, u) for u in ("alice", "bob", "acme")}
        versions = {}
        for model, user in (("alice/private", "alice"), ("acme/team", "alice")):
            versions[model] = srv.push(
                distinct_model(tmp, model.replace("/", "-")), model, "--token", tokens[user]
            )
        versions["admin/public"] = srv.push(
            distinct_model(tmp, "admin-public"), "admin/public", "--public"
        )
        yield {"server": srv, "tokens": tokens, "versions": versions, "tmp": tmp}
    finally:
        srv.stop()


def run(http: httpx.Client, path: str, **body: object) -> dict:  # type: ignore[type-arg]
    r = http.post(path, json={"input": {"text": "x"}, **body}, headers={"Prefer": "wait"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded", r.text
    return r.json()  # type: ignore[no-any-return]


def test_isolation_matrix(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    tokens, versions = world["tokens"], world["versions"]
    alice, bob, acme = (client(srv, tokens[u]) for u in ("alice", "bob", "acme"))
    admin = srv.http()
    # What each account owns.
    pa = run(alice, "/v1/models/alice/private/predictions")
    po = run(acme, "/v1/models/acme/team/predictions")
    pb_public = run(bob, "/v1/models/admin/public/predictions")
    file_a = alice.post("/v1/files", files={"content": ("a.txt", b"alice's", "text/plain")})
    assert file_a.status_code == 201
    fa = file_a.json()["id"]
    va, vo = versions["alice/private"], versions["acme/team"]

    # (method, path, body) → expected status for alice, bob, acme.
    cases: list[tuple[str, str, dict | None, tuple[int, int, int]]] = [  # type: ignore[type-arg]
        ("GET", "/v1/models/alice/private", None, (200, 404, 404)),
        ("GET", "/v1/models/alice/private/versions", None, (200, 404, 404)),
        ("GET", f"/v1/models/alice/private/versions/{va}", None, (200, 404, 404)),
        ("DELETE", f"/v1/models/alice/private/versions/{va}", None, (409, 404, 404)),
        ("DELETE", "/v1/models/alice/private", None, (409, 404, 404)),
        ("GET", "/v1/models/acme/team", None, (200, 404, 200)),
        ("GET", f"/v1/models/acme/team/versions/{vo}", None, (200, 404, 200)),
        ("GET", "/v1/models/admin/public", None, (200, 200, 200)),
        ("GET", f"/v1/models/admin/public/versions/{versions['admin/public']}", None, (200,) * 3),
        ("DELETE", "/v1/models/admin/public", None, (404, 404, 404)),
        ("POST", "/v1/models/alice/private/predictions", {"input": {"text": "x"}}, (201, 404, 404)),
        ("POST", "/v1/predictions", {"version": va, "input": {"text": "x"}}, (201, 422, 422)),
        ("POST", "/v1/predictions", {"version": f"acme/team:{vo}", "input": {}}, (422, 422, 422)),
        ("POST", "/v1/predictions", {"version": vo, "input": {"text": "x"}}, (201, 422, 201)),
        ("GET", f"/v1/predictions/{pa['id']}", None, (200, 404, 404)),
        ("POST", f"/v1/predictions/{pa['id']}/cancel", None, (200, 404, 404)),
        ("GET", f"/v1/predictions/{pa['id']}/webhooks", None, (200, 404, 404)),
        ("GET", f"/v1/predictions/{po['id']}", None, (200, 404, 200)),
        ("GET", f"/v1/predictions/{po['id']}/webhooks", None, (200, 404, 200)),
        ("GET", f"/v1/predictions/{pb_public['id']}", None, (404, 200, 404)),
        ("GET", f"/v1/files/{fa}", None, (200, 404, 404)),
        ("GET", f"/v1/files/{fa}/download", None, (200, 404, 404)),
        ("GET", "/v1/organizations/acme/members", None, (200, 404, 200)),
        ("POST", "/v1/organizations/acme/members", {"username": "bob"}, (None, 404, None)),
        ("POST", "/v1/models/alice/private/versions", b"not a bundle", (None, 404, 404)),
        ("POST", "/v1/models", {"owner": "acme", "name": "new"}, (201, 400, None)),
    ]
    if admin.get("/v1/deployments").status_code == 200:  # deployments (issue 6) are built
        created = alice.post(
            "/v1/deployments",
            json={
                "name": "dep",
                "model": "alice/private",
                "version": va,
                "hardware": "cpu",
                "min_instances": 0,
                "max_instances": 1,
            },
        )
        assert created.status_code in (200, 201), created.text
        cases += [
            ("GET", "/v1/deployments/alice/dep", None, (200, 404, 404)),
            ("PATCH", "/v1/deployments/alice/dep", {"max_instances": 1}, (200, 404, 404)),
            (
                "POST",
                "/v1/deployments/alice/dep/predictions",
                {"input": {"text": "x"}},
                (201, 404, 404),
            ),
        ]
    failures = []
    for method, path, body, expected in cases:
        for who, http, want in zip(
            ("alice", "bob", "acme"), (alice, bob, acme), expected, strict=True
        ):
            if want is None:
                continue
            if isinstance(body, bytes):
                r = http.request(method, path, content=body)
            else:
                r = http.request(method, path, json=body)
            if r.status_code != want:
                failures.append(
                    f"{who} {method} {path}: {r.status_code} (want {want}) {r.text[:120]}"
                )
    assert not failures, "\n".join(failures)

    # Lists show each account its own (and its organizations') things only.
    def ids(http: httpx.Client, path: str) -> set[str]:
        r = http.get(path)
        assert r.status_code == 200
        return {x.get("id") or f"{x.get('owner')}/{x.get('name')}" for x in r.json()["results"]}

    assert {pa["id"], po["id"]} <= ids(alice, "/v1/predictions")
    assert ids(bob, "/v1/predictions") & {pa["id"], po["id"]} == set()
    assert pb_public["id"] in ids(bob, "/v1/predictions")
    assert pb_public["id"] not in ids(admin, "/v1/predictions")
    assert po["id"] in ids(acme, "/v1/predictions") and pa["id"] not in ids(acme, "/v1/predictions")
    assert fa in ids(alice, "/v1/files") and fa not in ids(bob, "/v1/files")
    assert {"alice/private", "acme/team", "admin/public"} <= ids(alice, "/v1/models")
    assert ids(bob, "/v1/models") & {"alice/private", "acme/team"} == set()
    # A private resource of another account looks exactly like a missing one.
    hidden = bob.get(f"/v1/predictions/{pa['id']}")
    missing = bob.get("/v1/predictions/" + "z" * 26)
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
    hidden = bob.post("/v1/predictions", json={"version": va, "input": {}})
    missing = bob.post("/v1/predictions", json={"version": "0" * 64, "input": {}})
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
    assert hidden.json()["title"] == "Invalid version or not permitted"
    hidden, missing = bob.get("/v1/files/" + fa), bob.get("/v1/files/" + "y" * len(fa))
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
    # Streams are capability URLs: the token in the URL is the credential.
    stream = httpx.get(pa["urls"]["get"].replace("/predictions/", "/streams/") + "/wrong")
    assert stream.status_code == 404
    # Who each token belongs to.
    assert alice.get("/v1/account").json()["organizations"] == ["acme"]
    assert acme.get("/v1/account").json()["type"] == "organization"
    assert bob.get("/v1/account").json()["username"] == "bob"


def test_tokens_api_and_prompt_revocation(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    alice, bob = client(srv, world["tokens"]["alice"]), client(srv, world["tokens"]["bob"])
    made = bob.post("/v1/account/tokens", json={"name": "ci"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("my_") and made.json()["prefix"] == token[:8]
    extra = client(srv, token)
    assert extra.get("/v1/account").json()["username"] == "bob"
    listed = bob.get("/v1/account/tokens").json()["results"]
    assert [t["name"] for t in listed if t["id"] == made.json()["id"]] == ["ci"]
    assert all("token" not in t for t in listed)
    # alice cannot see or revoke bob's tokens; bob revokes his, and it stops working at once.
    assert alice.delete(f"/v1/account/tokens/{made.json()['id']}").status_code == 404
    assert alice.get("/v1/account/tokens?account=bob").status_code == 404
    assert bob.delete(f"/v1/account/tokens/{made.json()['id']}").status_code == 204
    assert extra.get("/v1/account").status_code == 401
    # A member makes a token for the organization; bob cannot.
    org_token = alice.post("/v1/account/tokens", json={"account": "acme"})
    assert org_token.status_code == 201 and org_token.json()["account"] == "acme"
    assert bob.post("/v1/account/tokens", json={"account": "acme"}).status_code == 404
    # A token revoked with the CLI stops working within the authenticator's cache time.
    cli_token = token_for(srv, "bob")
    assert client(srv, cli_token).get("/v1/account").status_code == 200
    assert srv.cli("tokens", "revoke", cli_token).returncode == 0
    waited = _eventually(lambda: client(srv, cli_token).get("/v1/account").status_code == 401)
    assert waited < 6.5
    # Users are made by the administrator only.
    assert bob.post("/v1/users", json={"username": "mallory"}).status_code == 404
    with srv.http() as admin:
        assert admin.post("/v1/users", json={"username": "carol"}).status_code == 201


def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> float:
    import time

    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout
        time.sleep(0.2)
    return time.monotonic() - began
