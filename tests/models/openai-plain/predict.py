"""A plain text model with no `openai:` block: `prompt: str` in, an iterator of strings out."""

from cog import BaseRunner, ConcatenateIterator, Input


class Runner(BaseRunner):
    def run(
        self,
        prompt: str = Input(description="Text to echo."),
        max_new_tokens: int = Input(default=32, ge=1, le=64),
    ) -> ConcatenateIterator[str]:
        words = ["echo:"] + prompt.split()
        for index, word in enumerate(words[:max_new_tokens]):
            yield word if index == 0 else f" {word}"
