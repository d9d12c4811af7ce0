from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.greeting = "hi"

    def predict(self, name: str = Input(default="you")) -> str:
        return f"{self.greeting} {name}"
