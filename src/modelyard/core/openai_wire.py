"""OpenAI's wire format: request bodies, model inputs made from them, and response objects.

Pure functions over a version's mapping (`core/openai_mapping.py`); the services run the
predictions. Token counts the model does not report are estimated at four characters per token.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.core.errors import BadRequest
from modelyard.core.openai_mapping import ChatMapping, EmbeddingsMapping

CHARS_PER_TOKEN = 4
MAX_STOPS = 4


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(_Body):
    include_usage: bool = False


class TextRequest(_Body):
    """What chat and text completions share."""

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = None

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOPS:
            raise BadRequest(
                f"stop: at most {MAX_STOPS} stop sequences are allowed.", extra={"param": "stop"}
            )
        return [s for s in stops if s]

    def limit(self) -> int | None:
        return self.max_tokens

    def check(self) -> None:
        """Refuse what no model here can do, naming the parameter."""
        if self.n is not None and self.n != 1:
            raise BadRequest(
                "n: only n=1 is supported; send one request per completion.", extra={"param": "n"}
            )
        self.stops()

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(TextRequest):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[Any] | None = None

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def check(self) -> None:
        super().check()
        if self.tools:
            raise BadRequest(
                "tools: tool calls are not supported by models served here.",
                extra={"param": "tools"},
            )


class CompletionRequest(TextRequest):
    prompt: str | list[str]
    best_of: int | None = None
    echo: bool | None = False
    suffix: str | None = None

    def text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise BadRequest(
                "prompt: give one prompt (a string); batches are not supported.",
                extra={"param": "prompt"},
            )
        return self.prompt[0]

    def check(self) -> None:
        super().check()
        self.text()
        for name, ok in (("best_of", self.best_of in (None, 1)), ("echo", not self.echo)):
            if not ok:
                raise BadRequest(f"{name}: this parameter is not supported.", extra={"param": name})
        if self.suffix:
            raise BadRequest("suffix: this parameter is not supported.", extra={"param": "suffix"})


class EmbeddingRequest(_Body):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)

    def texts(self) -> list[str]:
        texts = [self.input] if isinstance(self.input, str) else list(self.input)
        if not texts or any(not t.strip() for t in texts):
            raise BadRequest(
                "input: give a non-empty string or a list of non-empty strings.",
                extra={"param": "input"},
            )
        return texts


# -- requests → model inputs ---------------------------------------------------------------------


def chat_input(
    mapping: ChatMapping, request: ChatRequest, *, stop_as_list: bool
) -> tuple[dict[str, Any], str]:
    """The model's input for a chat request, and the prompt text (for token estimates)."""
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        for m in request.messages
    ]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    inputs: dict[str, Any] = {}
    if mapping.system is not None and system:
        inputs[mapping.system] = system
    if mapping.messages is not None:
        inputs[mapping.messages] = json.dumps(messages, ensure_ascii=False)
    else:
        assert mapping.prompt is not None
        if mapping.system is not None:  # the system text went to its own input
            messages = [m for m in messages if m["role"] != "system"]
        inputs[mapping.prompt] = render_prompt(messages)
    _sampling(inputs, mapping, request, stop_as_list=stop_as_list)
    return inputs, "\n".join(m.text() for m in request.messages)


def render_prompt(messages: list[dict[str, str]]) -> str:
    """One user message (after any system text) as is; a longer chat as a transcript."""
    turns = [m for m in messages if m["role"] != "system"]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    if len(turns) == 1 and turns[0]["role"] == "user":
        return f"{system}\n\n{turns[0]['content']}" if system else turns[0]["content"]
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


def completion_input(
    mapping: ChatMapping, request: CompletionRequest, *, stop_as_list: bool
) -> tuple[dict[str, Any], str]:
    """The model's input for a text completion, and the prompt text."""
    prompt = request.text()
    inputs: dict[str, Any] = {}
    if mapping.prompt is not None:
        inputs[mapping.prompt] = prompt
    else:
        assert mapping.messages is not None
        chat = [{"role": "user", "content": prompt}]
        inputs[mapping.messages] = json.dumps(chat, ensure_ascii=False)
    _sampling(inputs, mapping, request, stop_as_list=stop_as_list)
    return inputs, prompt


def _sampling(
    inputs: dict[str, Any], mapping: ChatMapping, request: TextRequest, *, stop_as_list: bool
) -> None:
    values: dict[str, Any] = {
        "max_tokens": request.limit(),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
    }
    stops = request.stops()
    if stops:
        values["stop"] = stops if stop_as_list else json.dumps(stops, ensure_ascii=False)
    for key, value in values.items():
        name = getattr(mapping, key)
        if name is not None and value is not None:
            inputs[name] = value


def embeddings_input(
    mapping: EmbeddingsMapping, texts: list[str], *, as_list: bool
) -> dict[str, Any]:
    """The model's input for embedding `texts`: a list, or a JSON list in a string."""
    return {mapping.input: texts if as_list else json.dumps(texts, ensure_ascii=False)}


def openai_param(mapping: ChatMapping | EmbeddingsMapping, input_name: str, text_param: str) -> str:
    """The OpenAI parameter a model input was filled from (`text_param` for the text itself)."""
    for key, value in mapping.to_dict().items():
        if value == input_name and key != "output":
            return text_param if key in ("messages", "prompt", "system", "input") else key
    return input_name


# -- outputs → responses -------------------------------------------------------------------------


def vectors_at(output: Any, path: str, count: int) -> list[list[float]]:
    """The vectors at `path` in a model's output: "" (the output itself), "embeddings" (a key),
    "[].embedding" (that key of each item). Raises ValueError unless there are `count`."""
    found = _walk(output, [s for s in path.split(".") if s])
    if count == 1 and _is_vector(found):
        found = [found]
    if not isinstance(found, list) or len(found) != count or not all(map(_is_vector, found)):
        where = f"`{path}`" if path else "the output itself"
        raise ValueError(f"the model's output does not hold {count} vector(s) at {where}")
    return [[float(x) for x in v] for v in found]


def _walk(value: Any, steps: list[str]) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    key, each = (step[:-2], True) if step.endswith("[]") else (step, False)
    if key:
        value = value.get(key) if isinstance(value, dict) else None
    if not each:
        return _walk(value, rest)
    return [_walk(item, rest) for item in value] if isinstance(value, list) else None


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value)
    )


def encode_vector(vector: list[float], encoding: str) -> list[float] | str:
    """A vector as floats, or base64 of little-endian float32 (what OpenAI's clients decode)."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def estimate_tokens(text: str) -> int:
    """About four characters per token (OpenAI's rule of thumb for English text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def usage(metrics: dict[str, Any], prompt: str, completion: str | None) -> dict[str, int]:
    """Token counts from the model's `input_token_count` / `output_token_count`, or estimates."""
    prompt_tokens = _count(metrics.get("input_token_count"), estimate_tokens(prompt))
    out: dict[str, int] = {"prompt_tokens": prompt_tokens}
    if completion is not None:
        completion_tokens = _count(metrics.get("output_token_count"), estimate_tokens(completion))
        out["completion_tokens"] = completion_tokens
        out["total_tokens"] = prompt_tokens + completion_tokens
    else:
        out["total_tokens"] = prompt_tokens
    return out


def _count(reported: Any, estimate: int) -> int:
    if isinstance(reported, int | float) and not isinstance(reported, bool) and reported >= 0:
        return int(reported)
    return estimate


def chat_completion(
    id: str, created: int, model: str, text: str, finish: str, usage: dict[str, int]
) -> dict[str, Any]:
    message = {"role": "assistant", "content": text, "refusal": None}
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


def chat_chunk(
    id: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    with_usage: bool = False,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; `delta=None` is the usage-only chunk (no choices)."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    chunk: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if with_usage:
        chunk["usage"] = usage
    return chunk


def text_completion(
    id: str,
    created: int,
    model: str,
    text: str,
    finish: str | None,
    usage: dict[str, int] | None = None,
    with_usage: bool = True,
    choices: bool = True,
) -> dict[str, Any]:
    """A `text_completion` object: the whole answer, or one streamed piece of it."""
    body: dict[str, Any] = {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": (
            [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]
            if choices
            else []
        ),
    }
    if with_usage:
        body["usage"] = usage
    return body


def embeddings_response(
    model: str, vectors: Iterable[list[float]], encoding: str, usage: dict[str, int]
) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": encode_vector(v, encoding)}
        for i, v in enumerate(vectors)
    ]
    return {"object": "list", "data": data, "model": model, "usage": usage}


class StopScanner:
    """Finds stop sequences in streamed text, holding back what could be the start of one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.pending = ""
        self.hold = max((len(s) for s in stops), default=1) - 1

    def feed(self, piece: str) -> tuple[str, bool]:
        """The text that is safe to send, and whether a stop sequence was reached."""
        if not self.stops:
            return piece, False
        self.pending += piece
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            text, self.pending = self.pending[: min(hits)], ""
            return text, True
        cut = max(0, len(self.pending) - self.hold)
        text, self.pending = self.pending[:cut], self.pending[cut:]
        return text, False

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return text
