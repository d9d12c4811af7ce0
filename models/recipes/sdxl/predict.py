"""Stable Diffusion XL 1.0: text-to-image (diffusers StableDiffusionXLPipeline, fp16, CUDA)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path as FsPath
from typing import Any

import modelyard_weights as weights_lib
from cog import BaseRunner, Input, Path

SCHEDULERS = ("K_EULER", "K_EULER_ANCESTRAL", "DPMSolverMultistep", "DDIM")
EXPECTED = (
    "a diffusers folder of stable-diffusion-xl-base-1.0 (model_index.json, unet/, ...) "
    "or one .safetensors checkpoint file"
)


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        path = weights_lib.resolve(weights, recipe="sdxl", expect=EXPECTED)
        import torch
        from diffusers import StableDiffusionXLPipeline

        if not torch.cuda.is_available():
            raise RuntimeError("sdxl needs an NVIDIA GPU; none is visible.")
        self.torch = torch
        if path.is_file():
            pipe = StableDiffusionXLPipeline.from_single_file(str(path), torch_dtype=torch.float16)
        else:
            pipe = StableDiffusionXLPipeline.from_pretrained(
                str(path), torch_dtype=torch.float16, use_safetensors=True
            )
        self.pipe: Any = pipe.to("cuda")
        self.default_scheduler = self.pipe.scheduler

    def run(
        self,
        prompt: str = Input(description="What to draw."),
        negative_prompt: str = Input(description="What not to draw.", default=""),
        width: int = Input(description="Width in pixels.", default=1024, ge=512, le=2048),
        height: int = Input(description="Height in pixels.", default=1024, ge=512, le=2048),
        num_outputs: int = Input(description="Images to make.", default=1, ge=1, le=4),
        num_inference_steps: int = Input(description="Denoising steps.", default=30, ge=1, le=100),
        guidance_scale: float = Input(
            description="How closely to follow the prompt.", default=7.5, ge=1.0, le=20.0
        ),
        scheduler: str = Input(description="Sampler.", choices=list(SCHEDULERS), default="K_EULER"),
        seed: int | None = Input(description="Random seed; empty for a random one.", default=None),
    ) -> list[Path]:
        """Generate `num_outputs` PNG images for `prompt`."""
        if width % 8 or height % 8:
            raise ValueError("width and height must be multiples of 8.")
        seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        print(f"Using seed {seed}")
        self.pipe.scheduler = make_scheduler(scheduler, self.default_scheduler.config)
        images = self.pipe(
            prompt=[prompt] * num_outputs,
            negative_prompt=[negative_prompt] * num_outputs if negative_prompt else None,
            width=width,
            height=height,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=self.torch.Generator("cuda").manual_seed(seed),
        ).images
        out = FsPath(tempfile.mkdtemp())
        paths = []
        for index, image in enumerate(images):
            image.save(out / f"out-{index}.png")
            paths.append(Path(out / f"out-{index}.png"))
        return paths


def make_scheduler(name: str, config: Any) -> Any:
    """A diffusers scheduler by its Replicate-style name, from the pipeline's own config."""
    import diffusers

    classes = {
        "K_EULER": diffusers.EulerDiscreteScheduler,
        "K_EULER_ANCESTRAL": diffusers.EulerAncestralDiscreteScheduler,
        "DPMSolverMultistep": diffusers.DPMSolverMultistepScheduler,
        "DDIM": diffusers.DDIMScheduler,
    }
    return classes[name].from_config(config)
