"""The `openai:` block of cog.yaml: shape, checks against a schema, the default mapping."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.core.errors import BuildError
from modelyard.core.openai_mapping import (
    ChatMapping,
    check_block,
    default_mapping,
    effective_mapping,
    parse_block,
)


def schema(inputs: dict[str, Any], required: list[str], output: dict[str, Any]) -> dict[str, Any]:
    return {
        "components": {
            "schemas": {
                "Input": {"type": "object", "properties": inputs, "required": required},
                "Output": output,
            }
        }
    }


TEXT_ITERATOR = {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"}
LLM = schema(
    {
        "prompt": {"type": "string"},
        "max_new_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "style": {"allOf": [{"$ref": "#/components/schemas/style"}]},
    },
    ["prompt"],
    TEXT_ITERATOR,
)


def test_a_chat_block_is_kept_as_written() -> None:
    block = parse_block({"chat": {"prompt": "prompt", "max_tokens": "max_new_tokens"}})
    assert block == {"chat": {"prompt": "prompt", "max_tokens": "max_new_tokens"}}
    check_block(block, LLM)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("chat", "must be a mapping"),
        ({"completions": {}}, "unknown key `completions`"),
        ({"chat": {"max_tokens": "n"}}, "exactly one of `messages`"),
        ({"chat": {"prompt": "p", "messages": "m"}}, "exactly one of `messages`"),
        ({"chat": {"prompt": "p", "frequency": "f"}}, "unknown key `frequency`"),
        ({"chat": {"prompt": 3}}, "`openai.chat.prompt` must be the name"),
        ({"embeddings": {"output": "[].embedding"}}, "must name the `input`"),
        ({"embeddings": {"input": "t", "output": "a..b"}}, "must be a path"),
    ],
)
def test_a_malformed_block_is_refused_naming_the_key(raw: Any, says: str) -> None:
    with pytest.raises(BuildError) as caught:
        parse_block(raw)
    assert says in caught.value.detail


@pytest.mark.parametrize(
    ("block", "says"),
    [
        ({"chat": {"prompt": "question"}}, "names the input `question`"),
        ({"chat": {"prompt": "max_new_tokens"}}, "whose type is integer"),
        ({"chat": {"prompt": "prompt", "seed": "temperature"}}, "whose type is number"),
        ({"embeddings": {"input": "max_new_tokens"}}, "whose type is integer"),
    ],
)
def test_a_block_that_does_not_fit_the_model_is_refused(block: dict[str, Any], says: str) -> None:
    with pytest.raises(BuildError) as caught:
        check_block(block, LLM)
    assert says in caught.value.detail


def test_a_required_input_left_unmapped_is_refused() -> None:
    model = schema(
        {"prompt": {"type": "string"}, "image": {"type": "string"}},
        ["prompt", "image"],
        TEXT_ITERATOR,
    )
    with pytest.raises(BuildError, match="required input `image` unmapped"):
        check_block({"chat": {"prompt": "prompt"}}, model)


def test_chat_needs_text_output() -> None:
    model = schema({"prompt": {"type": "string"}}, ["prompt"], {"type": "integer"})
    with pytest.raises(BuildError, match="output is text"):
        check_block({"chat": {"prompt": "prompt"}}, model)


def test_the_default_maps_a_plain_prompt_model_by_input_names() -> None:
    mapping = default_mapping(LLM)
    assert mapping is not None and not mapping.declared
    assert mapping.chat == ChatMapping(
        prompt="prompt", max_tokens="max_new_tokens", temperature="temperature", seed="seed"
    )
    assert mapping.embeddings is None


@pytest.mark.parametrize(
    "model",
    [
        schema({"prompt": {"type": "string"}}, ["prompt"], {"type": "string"}),  # not an iterator
        schema({"text": {"type": "string"}}, ["text"], TEXT_ITERATOR),  # no prompt
        schema(
            {"prompt": {"type": "string"}, "image": {"type": "string"}},
            ["prompt", "image"],
            TEXT_ITERATOR,
        ),  # another required input
    ],
)
def test_no_default_for_other_models(model: dict[str, Any]) -> None:
    assert default_mapping(model) is None


def test_a_declaration_wins_over_the_default() -> None:
    config = {"openai": {"embeddings": {"input": "prompt", "output": ""}}}
    mapping = effective_mapping(config, LLM)
    assert mapping is not None and mapping.declared and mapping.chat is None
    assert mapping.to_dict() == {
        "declared": True,
        "embeddings": {"input": "prompt", "output": ""},
    }
