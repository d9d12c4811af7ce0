"""OpenAI requests become model inputs; outputs become OpenAI objects."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from modelyard.core.errors import BadRequest
from modelyard.core.openai_mapping import ChatMapping, EmbeddingsMapping
from modelyard.core.openai_wire import (
    ChatRequest,
    CompletionRequest,
    StopScanner,
    chat_input,
    completion_input,
    embeddings_input,
    encode_vector,
    estimate_tokens,
    openai_param,
    render_prompt,
    usage,
    vectors_at,
)

CHAT = [
    {"role": "developer", "content": "Be brief."},
    {
        "role": "user",
        "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
    },
]


def test_messages_go_to_a_messages_input_as_json() -> None:
    mapping = ChatMapping(messages="chat", max_tokens="n", stop="stop")
    request = ChatRequest.model_validate(
        {"model": "a/b", "messages": CHAT, "max_completion_tokens": 5, "max_tokens": 9, "stop": "x"}
    )
    inputs, prompt = chat_input(mapping, request, stop_as_list=False)
    assert json.loads(inputs["chat"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
    ]
    assert inputs["n"] == 5  # max_completion_tokens wins over max_tokens
    assert json.loads(inputs["stop"]) == ["x"]
    assert prompt == "Be brief.\nHi there"


def test_a_prompt_input_gets_the_user_text_and_the_system_its_own_input() -> None:
    mapping = ChatMapping(prompt="prompt", system="system_prompt", temperature="t")
    request = ChatRequest.model_validate({"model": "a/b", "messages": CHAT, "temperature": 0})
    inputs, _ = chat_input(mapping, request, stop_as_list=True)
    assert inputs == {"prompt": "Hi there", "system_prompt": "Be brief.", "t": 0}


def test_a_longer_chat_becomes_a_transcript() -> None:
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert render_prompt(chat) == "System: S\n\nUser: Q1\n\nAssistant: A1\n\nUser: Q2\n\nAssistant:"
    assert render_prompt(chat[:2]) == "S\n\nQ1"


def test_a_completion_prompt_reaches_a_messages_model_as_one_user_message() -> None:
    request = CompletionRequest.model_validate({"model": "a/b", "prompt": ["once"]})
    inputs, prompt = completion_input(ChatMapping(messages="m"), request, stop_as_list=False)
    assert json.loads(inputs["m"]) == [{"role": "user", "content": "once"}]
    assert prompt == "once"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 3}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tools": [{"type": "function"}]}, "tools"),
    ],
)
def test_unsupported_requests_name_the_parameter(body: dict[str, object], param: str) -> None:
    request = ChatRequest.model_validate(
        {"model": "a/b", "messages": [{"role": "user", "content": "x"}], **body}
    )
    with pytest.raises(BadRequest) as caught:
        request.check()
    assert caught.value.extra["param"] == param


def test_a_model_input_error_names_the_openai_parameter() -> None:
    mapping = ChatMapping(prompt="prompt", max_tokens="max_new_tokens")
    assert openai_param(mapping, "max_new_tokens", "messages") == "max_tokens"
    assert openai_param(mapping, "prompt", "prompt") == "prompt"
    assert openai_param(EmbeddingsMapping(input="texts"), "texts", "input") == "input"


def test_texts_go_as_a_list_or_as_json() -> None:
    mapping = EmbeddingsMapping(input="texts")
    assert embeddings_input(mapping, ["a", "b"], as_list=True) == {"texts": ["a", "b"]}
    assert embeddings_input(mapping, ["a"], as_list=False) == {"texts": '["a"]'}


@pytest.mark.parametrize(
    ("output", "path"),
    [
        ([[1, 2], [3, 4]], ""),
        ({"embeddings": [[1, 2], [3, 4]]}, "embeddings"),
        ([{"embedding": [1, 2]}, {"embedding": [3, 4]}], "[].embedding"),
        ({"data": [{"v": [1, 2]}, {"v": [3, 4]}]}, "data[].v"),
    ],
)
def test_vectors_are_found_at_their_path(output: object, path: str) -> None:
    assert vectors_at(output, path, 2) == [[1.0, 2.0], [3.0, 4.0]]


def test_a_single_vector_for_a_single_text() -> None:
    assert vectors_at([0.5, 1], "", 1) == [[0.5, 1.0]]


@pytest.mark.parametrize(
    ("output", "path"),
    [([[1, 2]], ""), ([{"embedding": "x"}, {"embedding": [1]}], "[].embedding"), (None, "a")],
)
def test_missing_vectors_are_an_error(output: object, path: str) -> None:
    with pytest.raises(ValueError, match="does not hold 2 vector"):
        vectors_at(output, path, 2)


def test_base64_is_little_endian_float32() -> None:
    encoded = encode_vector([1.0, -0.5], "base64")
    assert isinstance(encoded, str)
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (1.0, -0.5)
    assert encode_vector([1.0], "float") == [1.0]


def test_usage_prefers_reported_counts_and_estimates_the_rest() -> None:
    assert estimate_tokens("") == 0 and estimate_tokens("abcde") == 2
    assert usage({"input_token_count": 7}, "abcd", "abcdefgh") == {
        "prompt_tokens": 7,
        "completion_tokens": 2,
        "total_tokens": 9,
    }
    assert usage({}, "abcd", None) == {"prompt_tokens": 1, "total_tokens": 1}


def test_stop_sequences_are_found_across_pieces() -> None:
    scanner = StopScanner(["END", "zz"])
    sent = []
    for piece in ["hello E", "N", "D and more"]:
        text, stopped = scanner.feed(piece)
        sent.append(text)
        if stopped:
            break
    assert "".join(sent) == "hello " and stopped
    plain = StopScanner([])
    assert plain.feed("abc") == ("abc", False)
    held = StopScanner(["xyz"])
    assert held.feed("abx") == ("a", False)
    assert held.flush() == "bx"
