from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(
        self,
        name: str = Input(description="Required text"),
        count: int = Input(default=1, ge=1, le=10),
        ratio: float = Input(default=0.5, ge=0.0, le=1.0),
        color: str = Input(default="red", choices=["red", "green", "blue"]),
        loud: bool = Input(default=False),
    ) -> str:
        word = f"{name}:{color}:{ratio}"
        return (word.upper() if loud else word) * count
