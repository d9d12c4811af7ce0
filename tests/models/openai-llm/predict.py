"""A deterministic chat model: it answers "You said: <the last user message>", token by token
(and fails after the first token when that message is "fail")."""

import json
import time

from cog import BaseRunner, ConcatenateIterator, Input


class Runner(BaseRunner):
    def run(
        self,
        messages: str = Input(description="The chat, a JSON list of {role, content}."),
        max_tokens: int = Input(default=32, ge=1, le=64),
        temperature: float = Input(default=0.0, ge=0, le=2),
        seed: int = Input(default=0),
        delay: float = Input(default=0.25, ge=0, le=5),
    ) -> ConcatenateIterator[str]:
        chat = json.loads(messages)
        last = [m["content"] for m in chat if m["role"] == "user"][-1]
        tokens = ["You", " said:"] + [f" {word}" for word in last.split()]
        tokens = tokens[:max_tokens]
        self.record_metric("input_token_count", sum(len(m["content"].split()) for m in chat))
        self.record_metric("output_token_count", len(tokens))
        for token in tokens:
            yield token
            if last == "fail":
                raise RuntimeError("asked to fail")
            time.sleep(delay)
