"""SmolLM2-135M completing a text, with the LoRA adapter of a training when it has one."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import torch
from cog import BaseRunner, Input
from peft import PeftModel
from smol_lora import load


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        """The base model; with COG_WEIGHTS (a trained version) its adapter merged in."""
        self.tokenizer, model = load()
        if weights:
            folder = Path(tempfile.mkdtemp())
            with tarfile.open(weights) as tar:
                tar.extractall(folder, filter="data")
            model = PeftModel.from_pretrained(model, folder / "adapter").merge_and_unload()
        self.model = model.eval()

    def run(
        self,
        prompt: str = Input(description="The text to continue"),
        max_new_tokens: int = Input(default=32, ge=1, le=512),
        temperature: float = Input(default=0.0, ge=0, le=2, description="0 is greedy"),
        seed: int = Input(default=0, description="The same seed and inputs give the same text"),
    ) -> str:
        torch.manual_seed(seed)
        ids = self.tokenizer(prompt, return_tensors="pt")
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {}
        with torch.inference_mode():
            out = self.model.generate(
                **ids,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.eos_token_id,
                **(sampling or {"do_sample": False}),
            )
        new_tokens = out[0][ids["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new_tokens, skip_special_tokens=True))
