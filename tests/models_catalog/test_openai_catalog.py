"""The catalog's LLM and embeddings model through the official `openai` client."""

from __future__ import annotations

import math
import time

import openai
import pytest

from tests.integration.harness import Server

pytestmark = [pytest.mark.models, pytest.mark.timeout(1800)]

LLM = "modelyard/smollm2-135m-instruct"
EMBEDDINGS = "modelyard/all-minilm-l6-v2"


def client(srv: Server) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=srv.token, base_url=f"{srv.url}/openai/v1", max_retries=0, timeout=300
    )


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_catalog_models_are_listed(catalog: Server) -> None:
    ids = {m.id for m in client(catalog).models.list()}
    assert {LLM, EMBEDDINGS} <= ids


def test_catalog_llm_answers_a_question(catalog: Server) -> None:
    answer = client(catalog).chat.completions.create(
        model=LLM,
        messages=[
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=24,
        temperature=0,
    )
    assert "paris" in (answer.choices[0].message.content or "").lower()
    assert answer.usage is not None
    # The model reports its token counts: the chat template alone is more than 20 tokens.
    assert answer.usage.prompt_tokens > 20 and 1 <= answer.usage.completion_tokens <= 24


def test_catalog_llm_follows_the_conversation(catalog: Server) -> None:
    answer = client(catalog).chat.completions.create(
        model=LLM,
        messages=[
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Italy?"},
        ],
        max_tokens=12,
        temperature=0,
    )
    assert "rome" in (answer.choices[0].message.content or "").lower()


def test_catalog_llm_streams(catalog: Server) -> None:
    c = client(catalog)
    c.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
    began = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    stream = c.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "Write a short paragraph about the ocean."}],
        max_tokens=40,
        seed=1,
        stream=True,
    )
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                arrivals.append(time.monotonic() - began)
                pieces.append(choice.delta.content)
    assert len(pieces) >= 10, pieces
    assert arrivals[0] < 0.5 * arrivals[-1], "the first token came late: not streamed"
    assert "".join(pieces).strip()


def test_catalog_embeddings_are_384_dimensional(catalog: Server) -> None:
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
    ]
    result = client(catalog).embeddings.create(model=EMBEDDINGS, input=texts)
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    single = client(catalog).embeddings.create(
        model=EMBEDDINGS, input="A man is eating food.", encoding_format="float"
    )
    assert single.data[0].embedding == pytest.approx(vectors[0], abs=1e-5)
