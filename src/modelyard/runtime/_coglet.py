"""coglet 0.23.1's HTTP API as instances use it: the runtime events and the wire quirks.

Measured against coglet 0.23.1 (SSE with `Accept: text/event-stream`, the schema opting in
with `x-cog-streaming: true`):

    start      {"id","status":"processing"}            when a slot takes the prediction
    log        {"data":"line\\n","source":"stdout"|"stderr"}
    metric     {"name","value","mode":"replace"|"increment"|"append"}
    output     {"chunk","index"}   per yield or list item; a scalar output comes whole, index 0
    completed  {"id","status","output","logs","metrics"[,"error"]}, then the stream ends

A crashed worker ends its predictions `failed` with error "Worker crashed"; a prediction sent
after the worker died idle gets `start` then "Failed to send request: ... Broken pipe": it never
reached the model (`WorkerCrashed.undelivered`), so it may run again elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import httpx

from modelyard.core.errors import InstanceError
from modelyard.runtime._http import loopback_client
from modelyard.runtime._sse import aiter_events

logger = logging.getLogger(__name__)

DoneStatus = Literal["succeeded", "failed", "canceled"]

CRASHED = "The model instance crashed while running this prediction ({reason})"
STOPPED = "The model instance was stopped while running this prediction"

# Health-check errors once the worker is gone ("...healthcheck channel closed", "...response
# channel dropped", "Worker crashed"); coglet never recovers from them.
_WORKER_GONE = re.compile(r"protocol error|Worker crashed")
_PREDICT_TIMEOUT = httpx.Timeout(10.0, read=None)


@dataclass(frozen=True, slots=True)
class Started:
    """coglet took the prediction into a slot; user code runs from here."""


@dataclass(frozen=True, slots=True)
class Log:
    text: str  # one captured line with its "\n"; concatenated they make the logs


@dataclass(frozen=True, slots=True)
class Output:
    """One output chunk: an iterator's yield, a list's item, or a scalar output whole (index 0)."""

    value: Any
    index: int


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: Any
    mode: str  # "replace" | "increment" | "append"


@dataclass(frozen=True, slots=True)
class Done:
    """The terminal event; `output` is the complete, authoritative output."""

    status: DoneStatus
    output: Any = None
    error: str | None = None
    logs: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


RuntimeEvent = Started | Log | Output | Metric | Done


@dataclass(frozen=True, slots=True)
class WorkerCrashed:
    """Not a runtime event: tells the instance, just before the Done, that it is dead."""

    reason: str
    undelivered: bool = False  # the prediction never reached the model's code


class Undelivered(InstanceError):
    """The prediction never reached the model's code (its worker was already gone)."""


class Unreachable(Exception):
    """coglet did not answer at all (connection refused or reset)."""


class Coglet:
    """The HTTP calls to one coglet server, over a keep-alive loopback client."""

    def __init__(
        self,
        port: int,
        *,
        max_connections: int,
        uds: str | None = None,
        resource: str = "predictions",
    ) -> None:
        self._client = loopback_client(
            f"http://127.0.0.1:{port}", max_connections=max_connections, uds=uds
        )
        self._resource = resource  # `trainings` for a coglet in train mode

    async def health(self) -> dict[str, Any]:
        """GET /health-check; {} when coglet does not answer (yet)."""
        try:
            health = (await self._client.get("/health-check", timeout=10.0)).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return health if isinstance(health, dict) else {}

    async def put_prediction(
        self, prediction_id: str, body: Mapping[str, Any], *, streaming: bool
    ) -> httpx.Response:
        """PUT /predictions/{id} (or /trainings/{id}, answered 202 at once: its events come
        by webhook); an open response whose body the caller must close."""
        headers = {"Accept": "text/event-stream"} if streaming else {}
        if self._resource == "trainings":
            headers = {"Prefer": "respond-async"}
        request = self._client.build_request(
            "PUT",
            f"/{self._resource}/{prediction_id}",
            json=dict(body),
            headers=headers,
            timeout=_PREDICT_TIMEOUT,
        )
        try:
            return await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise Unreachable(type(exc).__name__) from exc

    async def cancel(self, prediction_id: str) -> int | None:
        """POST /predictions/{id}/cancel: 200 while in flight, 404 once over, None if down."""
        try:
            response = await self._client.post(
                f"/{self._resource}/{prediction_id}/cancel", timeout=5.0
            )
        except httpx.HTTPError:
            return None
        return response.status_code

    async def shutdown(self, timeout: float) -> None:
        """POST /shutdown: coglet exits once idle (in-flight predictions lose their result)."""
        with contextlib.suppress(httpx.HTTPError):
            await self._client.post("/shutdown", timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()


async def events(
    response: httpx.Response,
) -> AsyncGenerator[RuntimeEvent | WorkerCrashed, None]:
    """The events of an accepted PUT, SSE or the plain JSON answer; they may end without a
    Done if the stream breaks (coglet died)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        with contextlib.suppress(httpx.TransportError):  # a dead process ends the stream
            async for sse in aiter_events(response.aiter_lines()):
                try:
                    data = json.loads(sse.data)
                except ValueError:
                    logger.warning("coglet sent a malformed %s event", sse.event)
                    continue
                for event in _translate(sse.event, data):
                    yield event
        return
    raw = await response.aread()
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    if response.status_code == 422:
        yield Done(status="failed", error=validation_error(data))
    elif response.status_code != 200 or "status" not in data:
        text = raw.decode(errors="replace")[:500]
        yield Done(status="failed", error=f"coglet answered HTTP {response.status_code}: {text}")
    else:  # the sync fallback for schemas without x-cog-streaming
        yield Started()
        for event in completed(data):
            yield event


def _translate(kind: str, data: Mapping[str, Any]) -> list[RuntimeEvent | WorkerCrashed]:
    if kind == "start":
        return [Started()]
    if kind == "log":
        return [Log(str(data.get("data", "")))]
    if kind == "output":
        return [Output(data.get("chunk"), int(data.get("index", 0)))]
    if kind == "metric":
        return [Metric(str(data.get("name")), data.get("value"), str(data.get("mode", "replace")))]
    if kind == "completed":
        return completed(data)
    return []


def completed(data: Mapping[str, Any]) -> list[RuntimeEvent | WorkerCrashed]:
    """The events of coglet's final answer or terminal webhook: a crash, then the Done."""
    status, error = data.get("status"), data.get("error")
    crash, undelivered = None, False
    if status == "failed" and error == "Worker crashed":
        crash = "the model worker crashed"
    elif status == "failed" and str(error).startswith("Failed to send request"):
        crash, undelivered = "the model worker had already crashed", True  # died idle
    if crash:
        error = CRASHED.format(reason=crash)
    if status not in ("succeeded", "failed", "canceled"):
        error = error or f"coglet ended the prediction with status {status!r}"
        status = "failed"
    done = Done(
        status=cast(DoneStatus, status),
        output=data.get("output"),
        error=error,
        logs=str(data.get("logs") or ""),
        metrics=dict(data.get("metrics") or {}),
    )
    return [WorkerCrashed(crash, undelivered), done] if crash else [done]


def worker_gone(health: Mapping[str, Any]) -> bool:
    """Whether a health answer means the worker is dead for good."""
    error = str(health.get("user_healthcheck_error"))
    return health.get("status") == "UNHEALTHY" and bool(_WORKER_GONE.search(error))


def setup_error(health: Mapping[str, Any]) -> str:
    setup = health.get("setup") or {}
    return str(setup.get("logs") or health.get("status"))


def validation_error(data: Mapping[str, Any]) -> str:
    details = data.get("detail")
    if not isinstance(details, list):
        return "Input validation failed"
    parts = []
    for item in details:
        loc = [str(p) for p in item.get("loc", []) if p not in ("body", "input")]
        parts.append(f"{'.'.join(loc) or 'input'}: {item.get('msg', 'invalid')}")
    return "Input validation failed: " + "; ".join(parts)


def render(line: bytes) -> str:
    """coglet's JSON log lines as `[target] message: error` (the model's own output bare)."""
    text = line.decode("utf-8", errors="replace").rstrip()
    try:
        record = json.loads(text)
    except ValueError:
        return text
    if not isinstance(record, dict):
        return text
    fields = record.get("fields") or {}
    target = record.get("target", "coglet")
    message = str(fields.get("message", ""))
    if target in ("coglet::setup", "coglet::user"):
        return message
    rendered = f"[{target}] {message}"
    return f"{rendered}: {fields['error']}" if fields.get("error") else rendered
