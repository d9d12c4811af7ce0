"""Routes: OpenAI-compatible chat, text completions, embeddings and models under /openai/v1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelyard.accounts import Account
from modelyard.api.deps import CurrentAccount, PlatformDep, UrlsDep, json_response, read_json
from modelyard.api.openai.errors import OpenAIRoute, error_body, parse_request
from modelyard.core.errors import BadRequest, ModelyardError, NotFound
from modelyard.core.openai_wire import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    chat_chunk,
    chat_completion,
    chat_input,
    completion_input,
    embeddings_response,
    text_completion,
    usage,
)
from modelyard.services import openai as service
from modelyard.services.platform import Platform

# Left out of /openapi.json: these routes follow OpenAI's API reference, not this document
# (docs/api-extensions.md says so, docs/openai.md describes them).
router = APIRouter(prefix="/openai/v1", route_class=OpenAIRoute, include_in_schema=False)

PREDICTION_HEADER = "x-prediction-id"
T = TypeVar("T")


@router.post("/chat/completions")
async def chat_completions(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    body = parse_request(ChatRequest, await read_json(request))
    run = await service.start_text(platform, account, urls, body, chat_input, "messages")
    chat_id = f"chatcmpl-{run.id}"
    created = int(time.time())

    def chunk(delta: dict[str, Any] | None, **rest: Any) -> dict[str, Any]:
        return chat_chunk(
            chat_id, created, body.model, delta, with_usage=body.include_usage, **rest
        )

    if body.stream:

        async def events() -> AsyncIterator[dict[str, Any]]:
            yield chunk({"role": "assistant", "content": ""})
            async for piece in run.pieces():
                yield chunk({"content": piece})
            yield chunk({}, finish=run.finish_reason)
            if body.include_usage:
                yield chunk(None, usage=run.usage())

        return _stream(request, run, events())
    await _unless_gone(request, _drain(run), platform, account, run.id)
    finished = (run.text, run.finish_reason, run.usage())
    return _answer(run, chat_completion(chat_id, created, body.model, *finished))


@router.post("/completions")
async def completions(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    body = parse_request(CompletionRequest, await read_json(request))
    run = await service.start_text(platform, account, urls, body, completion_input, "prompt")
    completion_id = f"cmpl-{run.id}"
    created = int(time.time())
    if body.stream:

        async def events() -> AsyncIterator[dict[str, Any]]:
            streamed = body.include_usage
            async for piece in run.pieces():
                yield text_completion(
                    completion_id, created, body.model, piece, None, with_usage=streamed
                )
            yield text_completion(
                completion_id, created, body.model, "", run.finish_reason, with_usage=streamed
            )
            if streamed:
                yield text_completion(
                    completion_id, created, body.model, "", None, run.usage(), choices=False
                )

        return _stream(request, run, events())
    await _unless_gone(request, _drain(run), platform, account, run.id)
    finished = (run.text, run.finish_reason, run.usage())
    return _answer(run, text_completion(completion_id, created, body.model, *finished))


@router.post("/embeddings")
async def embeddings(request: Request, platform: PlatformDep, account: CurrentAccount) -> Response:
    body = parse_request(EmbeddingRequest, await read_json(request))
    texts = body.texts()
    target = await service.resolve(platform, account, body.model, "embeddings")
    row = await service.start_embeddings(platform, account, target, texts)
    final, vectors = await _unless_gone(
        request,
        service.finish_embeddings(platform, account, target, row["id"], len(texts)),
        platform,
        account,
        row["id"],
    )
    if body.dimensions is not None and body.dimensions != len(vectors[0]):
        raise _dimensions(len(vectors[0]))
    metrics = final.get("metrics") or {}
    answer = embeddings_response(
        body.model, vectors, body.encoding_format, usage(metrics, "".join(texts), None)
    )
    return json_response(answer, headers={PREDICTION_HEADER: row["id"]})


@router.get("/models")
async def list_models(platform: PlatformDep, account: CurrentAccount) -> Response:
    return json_response({"object": "list", "data": await service.list_served(platform, account)})


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, platform: PlatformDep, account: CurrentAccount) -> Response:
    for item in await service.list_served(platform, account):
        if item["id"] == model_id:
            return json_response(item)
    raise NotFound(
        f"The model `{model_id}` does not exist, you do not have access to it, or it does not "
        "serve the OpenAI-compatible endpoints.",
        extra={"param": "model", "code": "model_not_found"},
    )


# -- helpers -------------------------------------------------------------------------------------


def _answer(run: service.TextRun, answer: dict[str, Any]) -> Response:
    return json_response(answer, headers={PREDICTION_HEADER: run.id})


async def _drain(run: service.TextRun) -> None:
    async for _ in run.pieces():
        pass


async def _unless_gone(
    request: Request,
    work: Awaitable[T],
    platform: Platform,
    account: Account,
    prediction_id: str,
) -> T:
    """Await `work`; if the client disconnects first, cancel the prediction."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        service.cancel_soon(platform, account, prediction_id)
        raise ClientGone()
    return task.result()


class ClientGone(ModelyardError):
    """The caller went away; nobody reads this answer."""

    status = 499
    title = "Client closed request"

    def __init__(self) -> None:
        super().__init__("The client closed the connection.")


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _stream(
    request: Request, run: service.TextRun, events: AsyncIterator[dict[str, Any]]
) -> Response:
    """Server-sent events in OpenAI's format, ending with `data: [DONE]`; a client that goes
    away cancels the prediction."""

    async def body() -> AsyncIterator[bytes]:
        watcher = asyncio.ensure_future(_disconnected(request))
        watcher.add_done_callback(lambda _task: _cancel_run(run))
        try:
            try:
                async for event in events:
                    yield _sse(event)
            except ModelyardError as exc:
                yield _sse(error_body(exc)[1])
            yield b"data: [DONE]\n\n"
        finally:
            watcher.cancel()
            _cancel_run(run)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", PREDICTION_HEADER: run.id},
    )


def _cancel_run(run: service.TextRun) -> None:
    """Cancel the prediction of a stream that ends before its answer did (once)."""
    if not run.finished:
        run.finished = True
        service.cancel_soon(run.platform, run.account, run.id)


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def _dimensions(actual: int) -> BadRequest:
    return BadRequest(
        f"dimensions: this model returns {actual}-dimensional vectors; omit `dimensions` or "
        f"set it to {actual}.",
        extra={"param": "dimensions"},
    )
