"""OpenAI-compatible use cases: each call resolves a model and runs one real prediction.

Predictions are created through `services/predictions.py` with `source: "openai"`, so
validation, billing, history and webhooks are the platform's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelyard.accounts import Account
from modelyard.core.errors import BadRequest, InstanceError, InvalidInput, NotFound
from modelyard.core.openai_mapping import (
    ChatMapping,
    EmbeddingsMapping,
    OpenAIMapping,
    effective_mapping,
    input_types,
)
from modelyard.core.openai_wire import (
    StopScanner,
    TextRequest,
    embeddings_input,
    openai_param,
    usage,
    vectors_at,
)
from modelyard.core.states import Status
from modelyard.services import deployments, predictions, streams
from modelyard.services.catalog import MODEL_REF, VersionInfo
from modelyard.services.urls import Urls
from modelyard.store import models as models_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

DEPLOYMENT_PREFIX = "deployment:"
Kind = Literal["chat", "embeddings"]
_WHAT = {"chat": "chat and text completions", "embeddings": "embeddings"}
_background: set[asyncio.Task[Any]] = set()


@dataclass(frozen=True)
class Target:
    """Where a call runs: the model as the caller named it, its version, and its mapping."""

    name: str
    version: VersionInfo
    mapping: OpenAIMapping
    deployment: str | None = None
    queue: str | None = None
    hardware: str | None = None

    @property
    def chat(self) -> ChatMapping:
        assert self.mapping.chat is not None
        return self.mapping.chat

    @property
    def embeddings(self) -> EmbeddingsMapping:
        assert self.mapping.embeddings is not None
        return self.mapping.embeddings

    def takes_list(self, input_name: str | None) -> bool:
        """Whether a model input is an array (else it takes a JSON list in a string)."""
        schema = self.version.row.get("openapi_schema") or {}
        return input_name is not None and "array" in input_types(schema, input_name)


def _model_missing(model: str) -> NotFound:
    return NotFound(
        f"The model `{model}` does not exist or you do not have access to it.",
        extra={"param": "model", "code": "model_not_found"},
    )


async def resolve(platform: Platform, account: Account, model: str, kind: Kind) -> Target:
    """The model or `deployment:owner/name` a call names; NotFound unless it serves `kind`."""
    target: Target
    if model.startswith(DEPLOYMENT_PREFIX):
        match = MODEL_REF.match(model[len(DEPLOYMENT_PREFIX) :])
        if match is None:
            raise _model_missing(model)
        try:
            found = await deployments.prediction_target(
                platform, account, match["owner"], match["name"]
            )
        except NotFound as exc:
            raise _model_missing(model) from exc
        target = Target(
            model,
            found.version,
            OpenAIMapping(),
            deployment=found.deployment,
            queue=found.queue,
            hardware=found.hardware,
        )
    else:
        try:
            async with platform.db.connect() as conn:
                version = await platform.catalog.resolve(conn, account, model)
        except (InvalidInput, NotFound) as exc:
            raise _model_missing(model) from exc
        target = Target(model, version, OpenAIMapping())
    mapping = mapping_of(target.version)
    if mapping is None or getattr(mapping, kind) is None:
        raise NotFound(
            f"The model `{model}` does not serve {_WHAT[kind]} on the OpenAI-compatible "
            "endpoints: it has not opted in (an `openai:` block in its cog.yaml, see "
            "docs/openai.md).",
            extra={"param": "model", "code": "model_not_found"},
        )
    return Target(
        target.name, target.version, mapping, target.deployment, target.queue, target.hardware
    )


def mapping_of(version: VersionInfo) -> OpenAIMapping | None:
    return effective_mapping(version.row.get("config"), version.row.get("openapi_schema") or {})


async def create(
    platform: Platform,
    account: Account,
    target: Target,
    inputs: dict[str, Any],
    *,
    text_param: str,
) -> dict[str, Any]:
    """Create the prediction; input the model refuses is a 400 naming the OpenAI parameter."""
    mapping: ChatMapping | EmbeddingsMapping = (
        target.embeddings if text_param == "input" else target.chat
    )
    try:
        created = await predictions.create_prediction(
            platform,
            account,
            target.version,
            predictions.CreatePrediction(input=inputs),
            source="openai",
            deployment=target.deployment,
            queue=target.queue,
            hardware=target.hardware,
        )
    except InvalidInput as exc:
        errors = exc.errors or [{"field": text_param, "message": "is not valid"}]
        params = [openai_param(mapping, e["field"], text_param) for e in errors]
        detail = "; ".join(
            f"{param}: {e['message']} (the model's input `{e['field']}`)"
            for param, e in zip(params, errors, strict=True)
        )
        raise BadRequest(f"Invalid request: {detail}", extra={"param": params[0]}) from exc
    return created.row


async def start_text(
    platform: Platform,
    account: Account,
    urls: Urls,
    body: TextRequest,
    build: Callable[..., tuple[dict[str, Any], str]],
    text_param: str,
) -> TextRun:
    """Check a chat or completion request, create its prediction and follow its output.

    `build(mapping, body, stop_as_list=...)` makes the model's input and the prompt text.
    """
    body.check()
    target = await resolve(platform, account, body.model, "chat")
    mapping = target.chat
    inputs, prompt = build(mapping, body, stop_as_list=target.takes_list(mapping.stop))
    row = await create(platform, account, target, inputs, text_param=text_param)
    limit = body.limit()
    return TextRun(
        platform,
        account,
        urls,
        row,
        prompt,
        stops=body.stops(),
        limit=limit,
        # Without a max_tokens input, each streamed piece counts as a token.
        max_chunks=limit if mapping.max_tokens is None else None,
    )


def cancel_soon(platform: Platform, account: Account, prediction_id: str) -> None:
    """Cancel a prediction in the background (its caller went away or needs no more output)."""
    task = asyncio.ensure_future(_cancel(platform, account, prediction_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _cancel(platform: Platform, account: Account, prediction_id: str) -> None:
    try:
        await predictions.cancel_prediction(platform, account, prediction_id)
    except Exception:  # noqa: BLE001 - a background cleanup must not die loudly mid-shutdown
        logger.warning("could not cancel prediction %s", prediction_id, exc_info=True)


@dataclass
class TextRun:
    """A text prediction's output as it streams, with stop sequences and a chunk limit applied.

    `max_chunks` (when the model has no max_tokens input) ends the answer after that many
    output pieces; a stop sequence ends it before the sequence. Either way the prediction is
    canceled, since nothing more of it will be read.
    """

    platform: Platform
    account: Account
    urls: Urls
    row: dict[str, Any]
    prompt: str
    stops: list[str] = field(default_factory=list)
    limit: int | None = None
    max_chunks: int | None = None
    finish_reason: str = "stop"
    finished: bool = False
    parts: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def pieces(self) -> AsyncIterator[str]:
        """The answer's text as it arrives; raises InstanceError if the prediction failed."""
        scanner = StopScanner(self.stops)
        chunks = 0
        async for name, data, _seq, _ts in streams.stream_events(
            self.platform, self.row, self.urls
        ):
            if name == "done":
                break
            if name != "output":
                continue
            chunks += 1
            text, stopped = scanner.feed(data)
            if text:
                self.parts.append(text)
                yield text
            if stopped or (self.max_chunks is not None and chunks >= self.max_chunks):
                if not stopped and (rest := scanner.flush()):
                    self.parts.append(rest)
                    yield rest
                self.finish_reason = "stop" if stopped else "length"
                self.finished = True
                cancel_soon(self.platform, self.account, self.id)
                return
        if rest := scanner.flush():
            self.parts.append(rest)
            yield rest
        final = await wait_final(self.platform, self.account, self.id)
        self.finished = True
        check_succeeded(final)
        self.metrics = final.get("metrics") or {}
        produced = self.metrics.get("output_token_count")
        if not isinstance(produced, int):
            produced = chunks  # a model that reports no count: each piece counts as a token
        if self.limit is not None and produced >= self.limit:
            self.finish_reason = "length"

    def usage(self) -> dict[str, int]:
        return usage(self.metrics, self.prompt, self.text)


async def wait_final(platform: Platform, account: Account, prediction_id: str) -> dict[str, Any]:
    """The prediction once it is terminal (waking on its done event)."""
    while True:
        if await platform.bus.wait_done(prediction_id, 30):
            return await predictions.final_prediction(platform, account, prediction_id)
        row = await predictions.get_prediction(platform, account, prediction_id)
        if Status(row["status"]).terminal:
            return row


def check_succeeded(row: dict[str, Any]) -> None:
    """Raise InstanceError (500) for a prediction that failed or was canceled."""
    if row["status"] == Status.FAILED.value:
        raise InstanceError(f"The model failed: {row.get('error') or 'no error message'}")
    if row["status"] == Status.CANCELED.value:
        raise InstanceError("The prediction was canceled before it finished.")


async def start_embeddings(
    platform: Platform, account: Account, target: Target, texts: list[str]
) -> dict[str, Any]:
    """Create the prediction that embeds `texts`."""
    mapping = target.embeddings
    inputs = embeddings_input(mapping, texts, as_list=target.takes_list(mapping.input))
    return await create(platform, account, target, inputs, text_param="input")


async def finish_embeddings(
    platform: Platform, account: Account, target: Target, prediction_id: str, count: int
) -> tuple[dict[str, Any], list[list[float]]]:
    """Wait for the embeddings prediction: its final row and one vector per text."""
    final = await wait_final(platform, account, prediction_id)
    check_succeeded(final)
    try:
        return final, vectors_at(final["output"], target.embeddings.output, count)
    except ValueError as exc:
        raise InstanceError(f"The model's output has no embeddings: {exc}.") from exc


async def list_served(platform: Platform, account: Account) -> list[dict[str, Any]]:
    """OpenAI model objects for what the caller can use: models, then its deployments."""
    async with platform.db.connect() as conn:
        rows = await models_store.list_latest_versions(conn, visible_to=list(account.owners))
    out: list[dict[str, Any]] = []
    for row in rows:
        mapping = effective_mapping(row["config"], row["openapi_schema"] or {})
        if mapping is not None:
            out.append(_model_object(f"{row['owner']}/{row['name']}", row, mapping))
    cursor: str | None = None
    while True:
        views, cursor = await deployments.list_deployments(platform, account, cursor=cursor)
        for view in views:
            async with platform.db.connect() as conn:
                version = await platform.catalog.by_pk(conn, view.release["version_pk"])
            mapping = mapping_of(version)
            if mapping is not None:
                item = {"owner": view.deployment["owner"], **view.deployment}
                out.append(_model_object(f"{DEPLOYMENT_PREFIX}{view.ref}", item, mapping))
        if cursor is None:
            return out


def _model_object(id: str, row: dict[str, Any], mapping: OpenAIMapping) -> dict[str, Any]:
    created = row.get("created_at")
    endpoints = (["chat.completions", "completions"] if mapping.chat else []) + (
        ["embeddings"] if mapping.embeddings else []
    )
    return {
        "id": id,
        "object": "model",
        "created": int(created.timestamp()) if created is not None else 0,
        "owned_by": row["owner"],
        "endpoints": endpoints,  # extension: which /openai/v1 routes it serves
    }
