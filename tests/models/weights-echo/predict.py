from cog import BaseRunner


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        self.weights = weights

    def run(self) -> str:
        return self.weights or "none"
