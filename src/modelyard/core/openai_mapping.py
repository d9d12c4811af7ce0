"""How a model serves the OpenAI-compatible endpoints: the `openai:` block of its cog.yaml.

    openai:
      chat:                         # /chat/completions and /completions
        messages: messages          # the input that takes the chat as a JSON list, or
        prompt: prompt              # the input that takes it as text (one of the two)
        system: system_prompt       # optional: the input that takes the system message
        max_tokens: max_new_tokens  # optional, like temperature, top_p, seed and stop
      embeddings:                   # /embeddings
        input: texts                # the input that takes the texts
        output: "[].embedding"      # where the vectors are in the output

Without a block, a model whose inputs include `prompt: str` and whose output is an iterator
of strings serves chat by default (`default_mapping`). Everything here is pure: parsing,
checking against a version's schema, and the effective mapping of a version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from modelyard.core.errors import BuildError

BLOCK = "openai"
SAMPLING = ("max_tokens", "temperature", "top_p", "seed", "stop")
CHAT_KEYS = ("messages", "prompt", "system", *SAMPLING)
EMBEDDINGS_KEYS = ("input", "output")
# The JSON types each mapped input may have; stop may be a JSON list in a string or a list.
_TYPES: dict[str, frozenset[str]] = {
    "messages": frozenset({"string"}),
    "prompt": frozenset({"string"}),
    "system": frozenset({"string"}),
    "max_tokens": frozenset({"integer"}),
    "temperature": frozenset({"number", "integer"}),
    "top_p": frozenset({"number", "integer"}),
    "seed": frozenset({"integer"}),
    "stop": frozenset({"string", "array"}),
    "input": frozenset({"string", "array"}),
}
# Inputs the default mapping fills when a model has them under these names.
_DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "system": ("system_prompt",),
    "max_tokens": ("max_tokens", "max_new_tokens"),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "seed": ("seed",),
    "stop": ("stop", "stop_sequences"),
}
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STEP = r"(?:[A-Za-z_][A-Za-z0-9_]*(?:\[\])?|\[\])"
_PATH = re.compile(rf"^(?:{_STEP}(?:\.{_STEP})*)?$")


@dataclass(frozen=True)
class ChatMapping:
    """OpenAI chat parameter → the model input that takes it (None: the model has none)."""

    messages: str | None = None
    prompt: str | None = None
    system: str | None = None
    max_tokens: str | None = None
    temperature: str | None = None
    top_p: str | None = None
    seed: str | None = None
    stop: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass(frozen=True)
class EmbeddingsMapping:
    """The input that takes the texts and the path of the vectors in the output."""

    input: str
    output: str = ""  # "" : the output is the list of vectors; "[].embedding": one per object

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output}


@dataclass(frozen=True)
class OpenAIMapping:
    """What a version serves on /openai/v1, declared in cog.yaml or by default."""

    chat: ChatMapping | None = None
    embeddings: EmbeddingsMapping | None = None
    declared: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The form shown as a version's `openai` field."""
        out: dict[str, Any] = {"declared": self.declared}
        if self.chat is not None:
            out["chat"] = self.chat.to_dict()
        if self.embeddings is not None:
            out["embeddings"] = self.embeddings.to_dict()
        return out


def parse_block(raw: Any) -> dict[str, Any] | None:
    """The `openai:` block of cog.yaml, checked for shape; raises BuildError naming the key."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise BuildError(
            "cog.yaml: `openai` must be a mapping with `chat:` and/or `embeddings:`; "
            "see docs/openai.md."
        )
    unknown = sorted(str(k) for k in raw if k not in ("chat", "embeddings"))
    if unknown:
        raise BuildError(
            f"cog.yaml: `openai` has an unknown key `{unknown[0]}`; "
            "only `chat` and `embeddings` are allowed."
        )
    out: dict[str, Any] = {}
    if "chat" in raw:
        chat = _names("chat", raw["chat"], CHAT_KEYS, paths=())
        if ("messages" in chat) == ("prompt" in chat):
            raise BuildError(
                "cog.yaml: `openai.chat` must name exactly one of `messages` (an input taking "
                "the chat as JSON) and `prompt` (an input taking it as text)."
            )
        out["chat"] = chat
    if "embeddings" in raw:
        embeddings = _names("embeddings", raw["embeddings"], EMBEDDINGS_KEYS, paths=("output",))
        if "input" not in embeddings:
            raise BuildError(
                "cog.yaml: `openai.embeddings` must name the `input` that takes the texts."
            )
        out["embeddings"] = embeddings
    return out


def _names(
    section: str, raw: Any, allowed: tuple[str, ...], *, paths: tuple[str, ...]
) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not raw:
        raise BuildError(f"cog.yaml: `openai.{section}` must be a mapping of parameter: input.")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise BuildError(
                f"cog.yaml: `openai.{section}` has an unknown key `{key}`; "
                f"allowed: {', '.join(allowed)}."
            )
        if key in paths:
            if not isinstance(value, str) or not _PATH.match(value):
                raise BuildError(
                    f"cog.yaml: `openai.{section}.{key}` must be a path into the output such "
                    'as "[].embedding", "embeddings" or "" (the output itself).'
                )
        elif not isinstance(value, str) or not _INPUT_NAME.match(value):
            raise BuildError(
                f"cog.yaml: `openai.{section}.{key}` must be the name of one of the model's inputs."
            )
        out[str(key)] = value
    return out


def check_block(block: Mapping[str, Any] | None, openapi: Mapping[str, Any]) -> None:
    """Refuse a block that names inputs the model lacks or leaves a required input unmapped."""
    if not block:
        return
    properties, required = _inputs(openapi)
    for section, names in block.items():
        mapped = {v for k, v in names.items() if k != "output"}
        for key, input_name in names.items():
            if key == "output":
                continue
            if input_name not in properties:
                raise BuildError(
                    f"cog.yaml: `openai.{section}.{key}` names the input `{input_name}`, "
                    "which the model's run() does not have."
                )
            types = _json_types(properties[input_name])
            if types and not types & _TYPES[key]:
                raise BuildError(
                    f"cog.yaml: `openai.{section}.{key}` names `{input_name}`, whose type is "
                    f"{'/'.join(sorted(types))}; it must be {' or '.join(sorted(_TYPES[key]))}."
                )
        missing = sorted(set(required) - mapped)
        if missing:
            raise BuildError(
                f"cog.yaml: `openai.{section}` leaves the required input `{missing[0]}` "
                "unmapped; map it or give it a default."
            )
        if section == "chat" and not _text_output(openapi):
            raise BuildError(
                "cog.yaml: `openai.chat` needs a model whose output is text (a string or an "
                "iterator of strings)."
            )


def effective_mapping(
    config: Mapping[str, Any] | None, openapi: Mapping[str, Any]
) -> OpenAIMapping | None:
    """A version's mapping: its declared block, else the default, else None (not served)."""
    block = (config or {}).get(BLOCK)
    if block:
        chat = block.get("chat")
        embeddings = block.get("embeddings")
        return OpenAIMapping(
            chat=ChatMapping(**chat) if chat else None,
            embeddings=EmbeddingsMapping(**embeddings) if embeddings else None,
        )
    return default_mapping(openapi)


def default_mapping(openapi: Mapping[str, Any]) -> OpenAIMapping | None:
    """Chat for a model with `prompt: str`, iterator-of-strings output and nothing else required."""
    properties, required = _inputs(openapi)
    output = _output(openapi)
    if "prompt" not in properties or "string" not in _json_types(properties["prompt"]):
        return None
    if output.get("x-cog-array-type") != "iterator" or not _text_output(openapi):
        return None
    if set(required) - {"prompt"}:
        return None
    chosen: dict[str, str] = {"prompt": "prompt"}
    for key, candidates in _DEFAULT_NAMES.items():
        for name in candidates:
            prop = properties.get(name)
            types = _json_types(prop) if prop is not None else frozenset()
            if prop is not None and (not types or types & _TYPES[key]):
                chosen[key] = name
                break
    return OpenAIMapping(chat=ChatMapping(**chosen), declared=False)


def input_types(openapi: Mapping[str, Any], name: str) -> frozenset[str]:
    """The JSON types of one of a version's inputs (empty if unknown)."""
    prop = _inputs(openapi)[0].get(name)
    return _json_types(prop) if isinstance(prop, Mapping) else frozenset()


def _inputs(openapi: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    schema = openapi.get("components", {}).get("schemas", {}).get("Input", {})
    return dict(schema.get("properties") or {}), list(schema.get("required") or [])


def _output(openapi: Mapping[str, Any]) -> dict[str, Any]:
    return dict(openapi.get("components", {}).get("schemas", {}).get("Output") or {})


def _text_output(openapi: Mapping[str, Any]) -> bool:
    output = _output(openapi)
    if output.get("type") == "string":
        return True
    items = output.get("items") or {}
    return output.get("type") == "array" and items.get("type") == "string"


def _json_types(prop: Mapping[str, Any]) -> frozenset[str]:
    """The JSON types a property allows (empty when the schema does not say, e.g. a $ref)."""
    found: set[str] = set()
    kind = prop.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(k for k in kind if isinstance(k, str))
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in prop.get(combinator) or ():
            if isinstance(sub, Mapping):
                found |= _json_types(sub)
    found.discard("null")
    return frozenset(found)
