"""When a prediction's webhook fires: filters, the 500 ms throttle, and the payload it carries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidInput
from modelyard.files import check_url_async
from modelyard.store import accounts as accounts_store
from modelyard.store import predictions as predictions_store
from modelyard.store import webhooks as webhooks_store
from modelyard.webhooks import Throttle, WebhookSender, parse_events_filter

if TYPE_CHECKING:
    from modelyard.services.platform import Platform
    from modelyard.services.predictions import CreatePrediction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Subscription:
    url: str
    events: frozenset[str]


class WebhookNotifier:
    """Decides which events go out and renders each payload as GET would return it then."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.sender = WebhookSender(
            platform.db,
            self._secret_for,
            allow_private=platform.settings.allow_private_networks,
            retry_base=platform.settings.webhook_retry_base,
        )
        self.throttle = Throttle()
        self._subscriptions: dict[str, _Subscription | None] = {}
        self._trailing: dict[str, asyncio.TimerHandle] = {}
        self._pending_event: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def check_request(self, body: CreatePrediction) -> list[str] | None:
        """Validate `webhook` and `webhook_events_filter` at create time (clear 422s)."""
        url = body.webhook or body.webhook_completed
        if url is None:
            if body.webhook_events_filter is not None:
                parse_events_filter(body.webhook_events_filter)
            return body.webhook_events_filter
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(
                "`webhook` must be an http(s) URL.",
                [{"field": "webhook", "message": "must be an http(s) URL"}],
            )
        await check_url_async(
            url, allow_private=self.platform.settings.allow_private_networks, field="webhook"
        )
        if body.webhook is None:  # legacy `webhook_completed`: only the final event
            return ["completed"]
        return sorted(parse_events_filter(body.webhook_events_filter))

    def register(self, prediction_id: str, url: str | None, events: list[str] | None) -> None:
        """Remember a new prediction's webhook, so notifying needs no database read."""
        self._subscriptions[prediction_id] = (
            _Subscription(url, frozenset(events or ()) or parse_events_filter(None))
            if url
            else None
        )

    async def notify(self, prediction_id: str, event: str) -> None:
        """The prediction had `event`; deliver it if the prediction asked for it."""
        sub = await self._subscription(prediction_id)
        if sub is None or event not in sub.events:
            if event == "completed":
                self._forget(prediction_id)
            return
        if event in ("output", "logs") and not self.throttle.offer(prediction_id, event):
            self._schedule_trailing(prediction_id, event)
            return
        if event == "completed":
            self._forget(prediction_id)
            self.throttle.forget(prediction_id)
            await self.sender.send_completed(
                prediction_id, sub.url, await self._payload(prediction_id)
            )
            return
        self._spawn(self._send(prediction_id, sub.url, event))

    async def attempts(self, prediction_id: str) -> list[dict[str, Any]]:
        async with self.platform.db.connect() as conn:
            return await webhooks_store.list_attempts(conn, prediction_id)

    async def close(self) -> None:
        for handle in self._trailing.values():
            handle.cancel()
        await self.sender.close()

    # -- helpers ---------------------------------------------------------------------------------

    async def _send(self, prediction_id: str, url: str, event: str) -> None:
        payload = await self._payload(prediction_id)  # a database read: Postgres takes a while
        self.throttle.sent(prediction_id)
        await self.sender.send_once(prediction_id, url, event, payload)

    def _schedule_trailing(self, prediction_id: str, event: str) -> None:
        # Remember the newest throttled event; one delivery goes when the window opens.
        self._pending_event[prediction_id] = event
        if prediction_id in self._trailing:
            return
        due = self.throttle.due_at(prediction_id)
        loop = asyncio.get_running_loop()
        delay = max(0.0, due - time.monotonic()) + 0.005 if due is not None else 0.5
        self._trailing[prediction_id] = loop.call_later(delay, self._fire_trailing, prediction_id)

    def _fire_trailing(self, prediction_id: str) -> None:
        self._trailing.pop(prediction_id, None)
        event = self._pending_event.pop(prediction_id, None)
        sub = self._subscriptions.get(prediction_id)
        if event is None or sub is None:
            return
        if not self.throttle.take_due(prediction_id):
            if self.throttle.due_at(prediction_id) is not None:  # a slow send moved the window
                self._schedule_trailing(prediction_id, event)
            return
        self._spawn(self._send(prediction_id, sub.url, event))

    def _forget(self, prediction_id: str) -> None:
        handle = self._trailing.pop(prediction_id, None)
        if handle is not None:
            handle.cancel()
        self._pending_event.pop(prediction_id, None)
        self._subscriptions.pop(prediction_id, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _subscription(self, prediction_id: str) -> _Subscription | None:
        if prediction_id in self._subscriptions:
            return self._subscriptions[prediction_id]
        async with self.platform.db.connect() as conn:
            row = await predictions_store.find_prediction(conn, prediction_id)
        sub = None
        if row is not None and row["webhook"]:
            sub = _Subscription(
                row["webhook"],
                frozenset(row["webhook_events_filter"] or ()) or parse_events_filter(None),
            )
        self._subscriptions[prediction_id] = sub
        return sub

    async def _payload(self, prediction_id: str) -> bytes:
        from modelyard.services.trainings import render_row

        row = await self.platform.execution.snapshot(prediction_id)
        body = render_row(row, self.platform.urls())  # a training object for a training
        return json.dumps(body, separators=(",", ":")).encode()

    async def _secret_for(self, prediction_id: str) -> str | None:
        async with self.platform.db.connect() as conn:
            row = await predictions_store.find_prediction(conn, prediction_id)
            if row is None:
                return None
            account = await accounts_store.find_account_by_id(conn, row["account_id"])
        return account["webhook_secret"] if account else None
