"""The base model both entry points share: SmolLM2-135M-Instruct as converted at build time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MAX_TOKENS = 64  # a training line longer than this is cut


def load() -> tuple[Any, Any]:
    """The tokenizer and the float32 model, on the CPU."""
    folder = Path(sys.prefix) / "share" / "smollm2-135m-base"
    if not (folder / "config.json").is_file():
        raise RuntimeError(f"The converted model is missing from {folder}; rebuild the version.")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return tokenizer, model


def batch(tokenizer: Any, lines: list[str]) -> dict[str, torch.Tensor]:
    """Lines as one padded batch whose labels ignore the padding (plain language modelling)."""
    encoded = tokenizer(
        [line + tokenizer.eos_token for line in lines],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=MAX_TOKENS,
    )
    labels = encoded["input_ids"].clone()
    labels[encoded["attention_mask"] == 0] = -100
    return {**encoded, "labels": labels}
