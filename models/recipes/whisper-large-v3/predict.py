"""Whisper large-v3: transcribe or translate speech, with timestamps (transformers, CUDA)."""

from __future__ import annotations

from typing import Any

import modelyard_weights as weights_lib
from cog import BaseRunner, Input, Path

EXPECTED = "a Hugging Face folder of openai/whisper-large-v3 (config.json, model.safetensors, ...)"
SAMPLE_RATE = 16_000


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        path = weights_lib.resolve(weights, recipe="whisper-large-v3", expect=EXPECTED)
        import torch
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

        if not torch.cuda.is_available():
            raise RuntimeError("whisper-large-v3 needs an NVIDIA GPU; none is visible.")
        model = AutoModelForSpeechSeq2Seq.from_pretrained(
            str(path), dtype=torch.float16, low_cpu_mem_usage=True, use_safetensors=True
        ).to("cuda")
        processor = AutoProcessor.from_pretrained(str(path))
        self.pipe: Any = pipeline(
            "automatic-speech-recognition",
            model=model,
            tokenizer=processor.tokenizer,
            feature_extractor=processor.feature_extractor,
            dtype=torch.float16,
            device="cuda",
        )

    def run(
        self,
        audio: Path = Input(description="Speech: any format ffmpeg reads (wav, mp3, m4a, ...)."),
        task: str = Input(
            description="transcribe keeps the language; translate gives English.",
            choices=["transcribe", "translate"],
            default="transcribe",
        ),
        language: str = Input(
            description="Spoken language as a code such as en or fr; empty to detect it.",
            default="",
        ),
        timestamps: str = Input(
            description="none, segment (phrase) or word timestamps.",
            choices=["none", "segment", "word"],
            default="segment",
        ),
        batch_size: int = Input(description="30 s chunks decoded at once.", default=8, ge=1, le=64),
    ) -> dict:
        """`{"text", "chunks": [{"text", "timestamp": [start, end]}]}` for the whole recording."""
        import librosa

        samples, _ = librosa.load(str(audio), sr=SAMPLE_RATE, mono=True)
        generate: dict[str, Any] = {"task": task}
        if language:
            generate["language"] = language
        result = self.pipe(
            {"raw": samples, "sampling_rate": SAMPLE_RATE},
            chunk_length_s=30,
            batch_size=batch_size,
            return_timestamps={"none": False, "segment": True, "word": "word"}[timestamps],
            generate_kwargs=generate,
        )
        chunks = [
            {"text": chunk["text"], "timestamp": list(chunk["timestamp"])}
            for chunk in result.get("chunks", [])
        ]
        return {"text": result["text"].strip(), "chunks": chunks}
