"""Delivering webhooks: signed POSTs, every attempt recorded, `completed` retried from an outbox.

Intermediate events (`start`, `output`, `logs`) get one attempt. A `completed` delivery is written
to the outbox first and retried with exponential backoff until it is answered with a 2xx or runs
out of attempts; the outbox is in the database, so a restart resumes it with the same
`webhook-id`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from modelyard.core.timeutil import utcnow
from modelyard.files.guarded_http import guarded_client
from modelyard.files.urlguard import Resolver, check_url_form
from modelyard.store import Database
from modelyard.store import webhooks as store
from modelyard.webhooks.signing import new_message_id, signed_headers

logger = logging.getLogger(__name__)

SecretLookup = Callable[[str], Awaitable[str | None]]
USER_AGENT = "modelyard-webhooks/1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CLAIM_SECONDS = 60.0  # an attempt's hold on its delivery; a process dying mid-send frees it


class WebhookSender:
    """Sends deliveries and owns the outbox loop; start it with `run()` in a background task."""

    def __init__(
        self,
        db: Database,
        secret_for: SecretLookup,
        *,
        allow_private: bool,
        retry_base: float = 1.0,
        max_attempts: int = 8,
        resolver: Resolver | None = None,
    ) -> None:
        self.db = db
        self.secret_for = secret_for
        self.allow_private = allow_private
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        # Each connection goes to an address the SSRF guard checked (no second lookup).
        self._client = guarded_client(
            allow_private=allow_private, field="webhook", timeout=TIMEOUT, resolver=resolver
        )
        self._wake = asyncio.Event()

    async def close(self) -> None:
        await self._client.aclose()

    async def send_once(self, prediction_id: str, url: str, event: str, payload: bytes) -> bool:
        """One attempt, recorded; True if the receiver answered 2xx."""
        return await self._attempt(prediction_id, url, event, payload, new_message_id(), 1)

    async def send_completed(self, prediction_id: str, url: str, payload: bytes) -> None:
        """Persist the terminal delivery, then let the outbox loop deliver it now."""
        async with self.db.begin() as conn:
            await store.add_delivery(
                conn,
                prediction_id=prediction_id,
                message_id=new_message_id(),
                event="completed",
                url=url,
                payload=payload.decode(),
                state="pending",
                attempts=0,
                next_attempt_at=time.time(),
                created_at=utcnow(),
            )
        self._wake.set()

    async def run(self) -> None:
        """Deliver due outbox entries forever, sleeping until one is due or a new one comes."""
        while True:
            self._wake.clear()
            async with self.db.connect() as conn:
                pending = await store.pending_deliveries(conn)
            now = time.time()
            due = [d for d in pending if d["next_attempt_at"] <= now]
            if due:
                await asyncio.gather(*(self._deliver(d) for d in due))
                continue
            wait = min((d["next_attempt_at"] - now for d in pending), default=30.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, wait))
            except TimeoutError:
                pass

    async def _deliver(self, delivery: dict) -> None:  # type: ignore[type-arg]
        async with self.db.begin() as conn:  # other processes' outbox loops see it too
            lease = time.time() + CLAIM_SECONDS
            if not await store.claim_delivery(
                conn, delivery["id"], delivery["next_attempt_at"], lease
            ):
                return
        attempt = delivery["attempts"] + 1
        ok = await self._attempt(
            delivery["prediction_id"],
            delivery["url"],
            "completed",
            delivery["payload"].encode(),
            delivery["message_id"],
            attempt,
        )
        values: dict[str, object] = {"attempts": attempt}
        if ok:
            values["state"] = "delivered"
        elif attempt >= self.max_attempts:
            values["state"] = "failed"
            logger.warning(
                "webhook for %s gave up after %d attempts", delivery["prediction_id"], attempt
            )
        else:
            values["next_attempt_at"] = time.time() + self.retry_base * 2 ** (attempt - 1)
        async with self.db.begin() as conn:
            await store.update_delivery(conn, delivery["id"], **values)

    async def _attempt(
        self,
        prediction_id: str,
        url: str,
        event: str,
        payload: bytes,
        message_id: str,
        attempt: int,
    ) -> bool:
        status: int | None = None
        error: str | None = None
        began = time.perf_counter()
        attempted_at = utcnow()
        secret = await self.secret_for(prediction_id)
        try:
            if secret is None:
                raise LookupError("the prediction's account no longer exists")
            check_url_form(url, allow_private=self.allow_private, field="webhook")
            headers = signed_headers(secret, message_id, payload)
            headers["user-agent"] = USER_AGENT
            response = await self._client.post(url, content=payload, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"the receiver answered HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # an invalid URL, a refused address: recorded, not raised
            error = getattr(exc, "detail", None) or str(exc)
        latency = (time.perf_counter() - began) * 1000
        async with self.db.begin() as conn:
            await store.record_attempt(
                conn,
                prediction_id=prediction_id,
                message_id=message_id,
                event=event,
                attempt=attempt,
                at=attempted_at,
                status_code=status,
                latency_ms=round(latency, 2),
                error=error,
            )
        if error:
            logger.info(
                "webhook %s for %s attempt %d failed: %s", event, prediction_id, attempt, error
            )
        return error is None
