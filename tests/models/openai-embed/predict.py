"""Deterministic 8-dimensional "embeddings": a text's SHA-256 bytes scaled to [-1, 1]."""

import hashlib
import json

from cog import BaseRunner, Input

DIMENSION = 8


def vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 127.5 - 1, 6) for b in digest[:DIMENSION]]


class Runner(BaseRunner):
    def run(self, texts: str = Input(description="A JSON list of strings.")) -> list[dict]:
        items = json.loads(texts)
        return [{"text": t, "embedding": vector(t)} for t in items]
