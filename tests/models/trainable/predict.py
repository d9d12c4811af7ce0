from cog import BaseRunner, Input


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        self.lines = []
        if weights:
            with open(weights, encoding="utf-8") as handle:
                self.lines = handle.read().splitlines()

    def run(self, prompt: str = Input(default="", description="Asked of the model")) -> str:
        if not self.lines:
            return f"untrained: {prompt}"
        return f"{prompt}: " + " | ".join(self.lines)
