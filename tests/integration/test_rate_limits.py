"""Per-token rate limits: the N+1st create gets 429 with Retry-After; client GETs retry it."""

from __future__ import annotations

import time
from collections.abc import Callable

import replicate

from tests.integration.harness import Server


def test_create_limit_and_get_retries(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(
        MODELYARD_RATE_LIMIT_CREATE="5/min", MODELYARD_RATE_LIMIT_OTHER="3/s"
    ).start()
    srv.push("echo", "admin/echo")
    time.sleep(1.1)  # the push's requests came out of the same token's bucket
    with srv.http() as http:
        remaining = []
        for _ in range(5):
            r = http.post("/v1/models/admin/echo/predictions", json={"input": {"text": "x"}})
            assert r.status_code == 201, r.text
            remaining.append(int(r.headers["ratelimit-remaining"]))
            assert int(r.headers["ratelimit-reset"]) >= 1
        assert remaining == [4, 3, 2, 1, 0]
        refused = http.post("/v1/models/admin/echo/predictions", json={"input": {"text": "x"}})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["retry-after"].isdigit()
        assert 10 <= int(refused.headers["retry-after"]) <= 12  # one create every 12 s
        assert "throttled" in refused.json()["detail"]
        assert refused.headers["ratelimit-remaining"] == "0"
        prediction_id = http.get("/v1/predictions").json()["results"][0]["id"]
        # Another token has buckets of its own.
        other = srv.cli("tokens", "create", "--name", "second").stdout.strip()
        r = http.post(
            "/v1/models/admin/echo/predictions",
            json={"input": {"text": "x"}},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert r.status_code == 201
        # Empty the "other" bucket, then the official client's GET is throttled and retried.
        while http.get("/v1/account").status_code != 429:
            pass
        client = replicate.Client(api_token=srv.token, base_url=srv.url)
        began = time.monotonic()
        fetched = client.predictions.get(prediction_id)
        assert fetched.id == prediction_id
        assert time.monotonic() - began >= 0.9  # it waited for Retry-After: 1
