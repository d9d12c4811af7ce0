"""Webhook delivery through the SSRF guard: a receiver name that rebinds to 127.0.0.1."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelyard.core.timeutil import utcnow
from modelyard.files.urlguard import IPAddress, check_url_async
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import models as models_store
from modelyard.store import predictions as predictions_store
from modelyard.store import webhooks as webhooks_store
from modelyard.webhooks.sender import WebhookSender

PREDICTION = "p" * 26
SECRET = "whsec_c2VjcmV0"


class Receiver(BaseHTTPRequestHandler):
    posts: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.posts.append(self.headers.get("Host", ""))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.posts = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    await database.migrate()
    now = utcnow()
    async with database.begin() as conn:
        account = await accounts_store.create_account(
            conn, username="a", name="a", type="user", webhook_secret=SECRET, created_at=now
        )
        model = await models_store.create_model(
            conn, owner="a", name="m", visibility="private", hardware="cpu", created_at=now
        )
        version = await models_store.create_version(
            conn, id="a" * 64, model_id=model["id"], status="ready", created_at=now
        )
        await predictions_store.create_prediction(
            conn,
            id=PREDICTION,
            account_id=account["id"],
            model_id=model["id"],
            version_pk=version["pk"],
            model="a/m",
            version="a" * 64,
            input={},
            status="succeeded",
            created_at=now,
        )
    yield database
    await database.close()


class Rebinding:
    """A hostile name server: public on the first question, loopback after."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return [ipaddress.ip_address("93.184.216.34" if len(self.asked) == 1 else "127.0.0.1")]


async def secret_for(_prediction_id: str) -> str:
    return SECRET


async def test_webhook_to_a_rebinding_name_never_reaches_loopback(
    db: Database, receiver: int
) -> None:
    resolve = Rebinding()
    url = f"http://hooks.attacker.test:{receiver}/hook"
    # Accepted when the prediction was created: the name answered a public address then.
    await check_url_async(url, allow_private=False, field="webhook", resolver=resolve)
    sender = WebhookSender(db, secret_for, allow_private=False, resolver=resolve)
    try:
        assert not await sender.send_once(PREDICTION, url, "start", b"{}")
    finally:
        await sender.close()
    assert Receiver.posts == []
    assert resolve.asked == ["hooks.attacker.test", "hooks.attacker.test"]
    async with db.connect() as conn:
        (attempt,) = await webhooks_store.list_attempts(conn, PREDICTION)
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("webhook points to a private network address")


async def test_webhook_connects_to_the_address_it_resolved(db: Database, receiver: int) -> None:
    async def loopback(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    sender = WebhookSender(db, secret_for, allow_private=True, resolver=loopback)
    try:
        ok = await sender.send_once(
            PREDICTION, f"http://hooks.example:{receiver}/h", "start", b"{}"
        )
    finally:
        await sender.close()
    assert ok
    assert Receiver.posts == [f"hooks.example:{receiver}"]
