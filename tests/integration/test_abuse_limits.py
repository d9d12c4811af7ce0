"""Abuse limits per account (issue 9): minting tokens does not multiply the rate limit, and
tokens, deployments and warm instances are capped — through the API, the client and the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import replicate
from redis import Redis
from replicate.exceptions import ReplicateError

from tests.integration.harness import Server

REDIS = "redis://127.0.0.1:6379/9"


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return str(body["detail"])


@pytest.mark.parametrize("backend", ["in-process", "redis"])
def test_many_tokens_of_one_account_are_limited_at_the_account_rate(
    server_factory: Callable[..., Server], backend: str
) -> None:
    srv = server_factory().start()
    with srv.http() as http:  # the attacker's tokens, and a bystander's
        made = [http.post("/v1/account/tokens", json={}).json()["token"] for _ in range(5)]
        assert http.post("/v1/users", json={"username": "bob"}).status_code == 201
        bob = http.post("/v1/account/tokens", json={"account": "bob"}).json()["token"]
    srv.stop()
    srv.settings.update(
        MODELYARD_RATE_LIMIT_OTHER="5/min",  # per token
        MODELYARD_RATE_LIMIT_ACCOUNT_OTHER="8/min",  # all of an account's tokens together
    )
    if backend == "redis":
        _forget_buckets()
        srv.settings["MODELYARD_REDIS_URL"] = REDIS
    srv.start()
    statuses: list[int] = []
    refused: list[httpx.Response] = []
    began = time.monotonic()
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        for _ in range(3):  # 18 requests: each token stays within its own 5 a minute
            for token in (srv.token, *made):
                r = http.get("/v1/account", headers={"Authorization": f"Bearer {token}"})
                statuses.append(r.status_code)
                if r.status_code == 429:
                    refused.append(r)
        elapsed = time.monotonic() - began
        assert set(statuses) == {200, 429}
        # The account's 8 (plus what refilled meanwhile, at 8 a minute), not 6 tokens × 5.
        assert 8 <= statuses.count(200) <= 8 + int(elapsed * 8 / 60)
        for r in refused:
            assert "throttled" in _problem(r, 429)
            assert 1 <= int(r.headers["retry-after"]) <= 8  # one request every 7.5 s
            assert r.headers["ratelimit-remaining"] == "0"
        # Another account has buckets of its own.
        r = http.get("/v1/account", headers={"Authorization": f"Bearer {bob}"})
        assert r.status_code == 200, r.text


def _forget_buckets() -> None:
    """Fresh data dirs reuse account ids: drop the buckets an earlier run left for them."""
    redis = Redis.from_url(REDIS)
    try:
        redis.ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis at 127.0.0.1:6379")
    for key in redis.scan_iter("modelyard:ratelimit:{account:*"):
        redis.delete(key)
    redis.close()


def test_tokens_per_account_are_capped_in_the_api_and_the_cli(
    server_factory: Callable[..., Server],
) -> None:
    srv = server_factory(MODELYARD_MAX_TOKENS_PER_ACCOUNT="3").start()  # it has 1 already
    with srv.http() as http:
        for name in ("ci", "laptop"):
            assert http.post("/v1/account/tokens", json={"name": name}).status_code == 201
        detail = _problem(http.post("/v1/account/tokens", json={"name": "one-more"}), 403)
        assert "already has 3 active API tokens" in detail
        assert "--max-tokens-per-account" in detail
        assert "MODELYARD_MAX_TOKENS_PER_ACCOUNT" in detail
        cli = srv.cli("tokens", "create")
        assert cli.returncode == 1
        assert cli.stdout == ""  # no token printed
        assert "already has 3 active API tokens" in " ".join(cli.stderr.split())
        listed = http.get("/v1/account/tokens").json()["results"]
        assert len(listed) == 3  # nothing half-made
        # Revoked tokens do not count: revoking one makes room for one.
        assert http.delete(f"/v1/account/tokens/{listed[-1]['id']}").status_code == 204
    cli = srv.cli("tokens", "create", "--name", "replacement")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip().startswith("my_")


def test_deployments_and_warm_instances_per_account_are_capped(
    server_factory: Callable[..., Server],
) -> None:
    srv = server_factory(
        MODELYARD_MAX_DEPLOYMENTS_PER_ACCOUNT="2", MODELYARD_MAX_WARM_INSTANCES_PER_ACCOUNT="1"
    ).start()
    version = srv.push("echo", "admin/echo")

    def body(name: str, min_instances: int) -> dict[str, object]:
        return {
            "name": name,
            "model": "admin/echo",
            "version": version,
            "hardware": "cpu",
            "min_instances": min_instances,
            "max_instances": 2,
        }

    with srv.http() as http:
        assert http.post("/v1/deployments", json=body("warm", 1)).status_code == 200
        # A second warm instance would pass the account's 1.
        detail = _problem(http.post("/v1/deployments", json=body("second", 1)), 403)
        assert "would keep 2 instances warm" in detail
        assert "--max-warm-instances-per-account" in detail
        assert "MODELYARD_MAX_WARM_INSTANCES_PER_ACCOUNT" in detail
        assert http.post("/v1/deployments", json=body("second", 0)).status_code == 200
        detail = _problem(
            http.patch("/v1/deployments/admin/second", json={"min_instances": 1}), 403
        )
        assert "would keep 2 instances warm" in detail
        # Changes that do not add warm instances still go through.
        r = http.patch("/v1/deployments/admin/warm", json={"max_instances": 3})
        assert r.status_code == 200, r.text
        # A third deployment passes the account's 2.
        detail = _problem(http.post("/v1/deployments", json=body("third", 0)), 403)
        assert "already have 2 deployments" in detail
        assert "--max-deployments-per-account" in detail
        assert "MODELYARD_MAX_DEPLOYMENTS_PER_ACCOUNT" in detail
        names = [d["name"] for d in http.get("/v1/deployments").json()["results"]]
        assert sorted(names) == ["second", "warm"]
        second = http.get("/v1/deployments/admin/second").json()["current_release"]
        assert second["number"] == 1 and second["configuration"]["min_instances"] == 0

    # The official client gets a ReplicateError carrying the status and the detail.
    client = replicate.Client(api_token=srv.token, base_url=srv.url)
    with pytest.raises(ReplicateError) as info:
        client.deployments.create(
            name="third", model="admin/echo", version=version, hardware="cpu",
            min_instances=0, max_instances=1,
        )  # fmt: skip
    assert info.value.status == 403
    assert "--max-deployments-per-account" in str(info.value.detail)

    # The CLI prints the detail and fails.
    cli = srv.cli("deployments", "create", "third", "--model", "admin/echo")
    assert cli.returncode == 1
    stderr = " ".join(cli.stderr.split())
    assert "already have 2 deployments" in stderr and "(HTTP 403)" in stderr

    # Deleting one makes room again.
    with srv.http() as http:
        assert http.delete("/v1/deployments/admin/second").status_code == 204
    cli = srv.cli("deployments", "create", "third", "--model", "admin/echo")
    assert cli.returncode == 0, cli.stderr
