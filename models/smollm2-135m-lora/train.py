"""Train a LoRA adapter on the lines of a text file; the adapter is the training's weights."""

from __future__ import annotations

import random
import tarfile
import tempfile
import time

import torch
from cog import BaseModel, Input, Path
from peft import LoraConfig, get_peft_model
from smol_lora import batch, load

MAX_LINES = 1000
BATCH = 8


class TrainingOutput(BaseModel):
    weights: Path


def train(
    lines: Path = Input(description="A text file: each non-empty line is one training example"),
    steps: int = Input(default=24, ge=1, le=1000, description="Optimizer steps"),
    learning_rate: float = Input(default=0.003, ge=1e-6, le=0.1, description="AdamW learning rate"),
    rank: int = Input(default=8, choices=[4, 8, 16, 32], description="LoRA rank"),
    seed: int = Input(default=0, description="Seed of the adapter's initial values and batches"),
) -> TrainingOutput:
    examples = [s.strip() for s in lines.read_text(encoding="utf-8").splitlines() if s.strip()]
    if not examples:
        raise ValueError("The training file has no non-empty lines.")
    examples = examples[:MAX_LINES]
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, model = load()
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"{len(examples)} lines, {sum(p.numel() for p in trainable):,} trainable parameters")
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
    model.train()
    began, cpu = time.monotonic(), time.process_time()
    for step in range(1, steps + 1):
        chosen = rng.sample(examples, min(BATCH, len(examples)))
        loss = model(**batch(tokenizer, chosen)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        wall, used = time.monotonic() - began, time.process_time() - cpu
        print(f"step {step}/{steps} loss {loss.item():.3f} ({wall:.0f} s, {used:.0f} s of CPU)")
    adapter = Path(tempfile.mkdtemp()) / "adapter"
    model.save_pretrained(adapter)
    weights = adapter.parent / "weights.tar"
    with tarfile.open(weights, "w") as tar:
        tar.add(adapter, arcname="adapter")
    return TrainingOutput(weights=weights)
