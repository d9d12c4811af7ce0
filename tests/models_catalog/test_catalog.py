"""The built-in models, registered by `modelyard serve`, run for real via the official client."""

from __future__ import annotations

import io
import math
import time
import wave
from pathlib import Path

import pytest
import replicate
from PIL import Image

from modelyard.services.builtins import BUILTINS
from tests.integration.harness import Server
from tests.models_catalog.conftest import download

pytestmark = [pytest.mark.models, pytest.mark.timeout(1800)]

CATALOG = Path(__file__).resolve().parents[2] / "models"
LLM = "modelyard/smollm2-135m-instruct"


def client(srv: Server) -> replicate.Client:
    return replicate.Client(api_token=srv.token, base_url=srv.url, timeout=300)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_catalog_is_listed_with_covers_and_examples(catalog: Server) -> None:
    c = client(catalog)
    listed = {(m.owner, m.name) for m in c.models.list().results}
    assert {("modelyard", name) for name in BUILTINS} <= listed
    for name in BUILTINS:
        model = c.models.get(f"modelyard/{name}")  # the client's strict parsing accepts it
        assert model.visibility == "public" and model.description
        assert model.latest_version is not None
        cover = download(catalog, model.cover_image_url)
        assert Image.open(io.BytesIO(cover)).size[0] > 0
        assert model.default_example is not None, name
        assert model.default_example.input


def test_embeddings_rank_a_paraphrase_above_an_unrelated_text(catalog: Server) -> None:
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
    ]
    output = client(catalog).run("modelyard/all-minilm-l6-v2", input={"texts": "\n".join(texts)})
    assert [item["text"] for item in output] == texts
    vectors = [item["embedding"] for item in output]
    assert all(len(v) == 384 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    as_json = client(catalog).run("modelyard/all-minilm-l6-v2", input={"texts": '["a", "b"]'})
    assert [item["text"] for item in as_json] == ["a", "b"]


def test_llm_streams_tokens_incrementally(catalog: Server) -> None:
    c = client(catalog)
    c.run(LLM, input={"prompt": "Hi", "max_new_tokens": 2})  # warm: the instance is up
    began = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    prompt = "Write a short paragraph about the ocean."
    for event in c.stream(LLM, input={"prompt": prompt, "max_new_tokens": 40, "seed": 1}):
        if str(event):
            arrivals.append(time.monotonic() - began)
            pieces.append(str(event))
    assert len(pieces) >= 10, pieces
    assert arrivals[0] < 0.5 * arrivals[-1], "the first token came late: not streamed"
    assert len({round(t, 2) for t in arrivals}) >= 10
    assert "".join(pieces).strip()


def test_llm_follows_a_simple_instruction(catalog: Server) -> None:
    output = client(catalog).run(
        LLM, input={"prompt": "What is the capital of France?", "max_new_tokens": 24}
    )
    assert "".join(output).strip()


def test_llm_same_seed_and_temperature_zero_repeat(catalog: Server) -> None:
    inputs = {"prompt": "Name three fruits.", "max_new_tokens": 24, "temperature": 0, "seed": 7}
    first = "".join(client(catalog).run(LLM, input=inputs))
    second = "".join(client(catalog).run(LLM, input=inputs))
    assert first.strip() and first == second


def test_face_blur_returns_an_image_of_the_same_size(catalog: Server) -> None:
    source = (CATALOG / "face-blur" / "example.jpg").read_bytes()
    width, height = Image.open(io.BytesIO(source)).size
    with io.BytesIO(source) as handle:
        output = client(catalog).run(
            "modelyard/face-blur",
            input={"image": handle, "mode": "pixelate"},
            use_file_output=False,
        )
    image = Image.open(io.BytesIO(download(catalog, str(output))))
    image.load()
    assert image.size == (width, height)
    assert image.format == "PNG"


def test_text_to_speech_returns_a_wav(catalog: Server) -> None:
    output = client(catalog).run(
        "modelyard/piper-en-us-joe",
        input={"text": "Testing one two three."},
        use_file_output=False,
    )
    data = download(catalog, str(output))
    with wave.open(io.BytesIO(data)) as wav:
        duration = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1
    assert 0.5 < duration < 10
