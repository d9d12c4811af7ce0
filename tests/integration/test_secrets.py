"""A cog `Secret` input never appears in clear text: database, logs, API, webhooks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from tests.integration.harness import Server
from tests.integration.receiver import receiver

SECRET = "sk-live-Zq7ftw3CsecretVALUE-91"


def test_secret_input_reaches_the_model_and_nothing_else(
    server_factory: Callable[..., Server],
) -> None:
    srv = server_factory(MODELYARD_ALLOW_PRIVATE_NETWORKS="1").start()
    srv.push("secret", "admin/secret")
    with receiver() as rec, srv.http() as http:
        created = http.post(
            "/v1/models/admin/secret/predictions",
            json={"input": {"api_key": SECRET, "prompt": "p"}, "webhook": f"{rec.url}/hook"},
            headers={"Prefer": "wait"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["status"] == "succeeded", body
        assert body["output"] == hashlib.sha256(SECRET.encode()).hexdigest()
        assert body["input"] == {"api_key": "**********", "prompt": "p"}
        rec.wait_for(1, predicate=lambda d: json.loads(d.body)["status"] == "succeeded")
        responses = [
            created.text,
            http.get(f"/v1/predictions/{body['id']}").text,
            http.get("/v1/predictions").text,
        ]
        # A bad value of another field is refused without echoing the secret either.
        bad = http.post(
            "/v1/models/admin/secret/predictions",
            json={"input": {"api_key": SECRET, "prompt": 5}},
        )
        assert bad.status_code == 422
        responses.append(bad.text)
    payloads = [d.body.decode() for d in rec.deliveries]
    assert payloads and all("**********" in p for p in payloads)
    for text in responses + payloads:
        assert SECRET not in text
    srv.stop()  # flushes and closes the database
    log = srv.log_path.read_bytes()
    assert SECRET.encode() not in log
    for path in srv.data_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
