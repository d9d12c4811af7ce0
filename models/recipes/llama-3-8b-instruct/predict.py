"""Llama 3 8B Instruct on vLLM: chat completion streamed token by token, batched across requests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import modelyard_weights as weights_lib
from cog import AsyncConcatenateIterator, BaseRunner, Input

EXPECTED = "a Hugging Face folder of Meta-Llama-3-8B-Instruct (config.json, *.safetensors, ...)"
DEFAULT_SYSTEM = "You are a helpful assistant."


class Runner(BaseRunner):
    async def setup(self, weights: str | None = None) -> None:
        path = weights_lib.resolve(weights, recipe="llama-3-8b-instruct", expect=EXPECTED)
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        args = AsyncEngineArgs(
            model=str(path), dtype="auto", max_model_len=8192, gpu_memory_utilization=0.90
        )
        self.engine: Any = AsyncLLMEngine.from_engine_args(args)
        self.tokenizer: Any = await self.engine.get_tokenizer()

    async def run(
        self,
        prompt: str = Input(description="The user's message."),
        system_prompt: str = Input(
            description="Instructions for the model.", default=DEFAULT_SYSTEM
        ),
        max_tokens: int = Input(
            description="The most tokens to generate.", default=512, ge=1, le=8192
        ),
        temperature: float = Input(
            description="Randomness; 0 is greedy.", default=0.6, ge=0.0, le=5.0
        ),
        top_p: float = Input(description="Nucleus sampling mass.", default=0.9, ge=0.01, le=1.0),
        top_k: int = Input(
            description="Sample from the k likeliest tokens; -1 for all.", default=50, ge=-1
        ),
        presence_penalty: float = Input(
            description="Penalty for repeating a topic.", default=0.0, ge=-2.0, le=2.0
        ),
        stop_sequences: str = Input(
            description="Comma-separated strings that end the answer.", default=""
        ),
        seed: int | None = Input(description="Random seed; empty for a random one.", default=None),
    ) -> AsyncConcatenateIterator[str]:
        """Answer `prompt`, yielding text as vLLM produces it."""
        from vllm import SamplingParams

        messages = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": prompt},
        ]
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            presence_penalty=presence_penalty,
            stop=[s for s in stop_sequences.split(",") if s] or None,
            seed=seed,
        )
        request_id = uuid.uuid4().hex
        sent = 0
        try:
            async for result in self.engine.generate(text, params, request_id):
                output = result.outputs[0].text
                if len(output) > sent:
                    yield output[sent:]
                    sent = len(output)
        except asyncio.CancelledError:
            await self.engine.abort(request_id)  # free the GPU slot at once on cancel
            raise
