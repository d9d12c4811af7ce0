"""Trainings on coglet: a train-mode coglet refuses SSE, so a training's events come by webhook.

coglet 0.23.1 in train mode (`--x-mode train`) answers `PUT /trainings/{id}` with
`Prefer: respond-async` by 202 at once, then POSTs the training's state to its `webhook`:
`processing` when it starts, the cumulative `logs` as lines come, then one terminal payload with
the output, error and full logs. Deliveries may overlap, so a late, shorter `logs` payload is
ignored and nothing after the terminal one counts. Measured on this machine: the first
webhook 10 ms after the PUT, the terminal one as `train()` returns. coglet throttles `logs`
webhooks (COG_THROTTLE_RESPONSE_INTERVAL, 0.5 s) without a trailing send: a line printed 3 ms
after the start webhook arrived only with the next line, 1.5 s later; with the interval at 0
(as training instances run) it arrived after 10 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from modelyard.runtime import _coglet
from modelyard.runtime._coglet import Log, RuntimeEvent, Started, WorkerCrashed

EVENTS = ["start", "logs", "completed"]  # the webhook_events_filter a training is sent with
EVENTS_PATH = "/internal/events/"  # where the platform takes them (instance-facing)
_TERMINAL = ("succeeded", "failed", "canceled")
_COGLET_PREFIX = "Prediction failed: "  # coglet's wording, also for trainings


class WebhookFeed:
    """One training's webhook payloads, handed over by the platform's events route."""

    def __init__(self) -> None:
        self._payloads: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()

    def offer(self, payload: Mapping[str, Any]) -> None:
        self._payloads.put_nowait(payload)

    async def _next(self, exited: asyncio.Event) -> Mapping[str, Any] | None:
        """The next payload; None once the process has exited and nothing is left."""
        if not self._payloads.empty():
            return self._payloads.get_nowait()
        getter = asyncio.ensure_future(self._payloads.get())
        dead = asyncio.ensure_future(exited.wait())
        try:
            await asyncio.wait((getter, dead), return_when=asyncio.FIRST_COMPLETED)
        finally:
            dead.cancel()
            if not getter.done():
                getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            if getter.done():
                return getter.result()
        return None

    async def events(
        self, response: httpx.Response, exited: asyncio.Event
    ) -> AsyncGenerator[RuntimeEvent | WorkerCrashed, None]:
        """The training's runtime events; they end without a Done if the process exits first."""
        if response.status_code != 202:  # a 422 of TrainingInput, or coglet's own error
            async for event in _coglet.events(response):
                yield event
            return
        started, logs = False, ""
        while (payload := await self._next(exited)) is not None:
            status = payload.get("status")
            if not started:
                started = True
                yield Started()
            text = payload.get("logs")
            if isinstance(text, str) and len(text) > len(logs) and text.startswith(logs):
                yield Log(text[len(logs) :])
                logs = text
            if status in _TERMINAL:
                for event in _coglet.completed({**payload, "error": _error(payload)}):
                    yield event
                return


def _error(payload: Mapping[str, Any]) -> Any:
    error = payload.get("error")
    if isinstance(error, str) and error.startswith(_COGLET_PREFIX + "Training failed"):
        return error[len(_COGLET_PREFIX) :]
    return error
