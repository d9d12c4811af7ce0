from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, text: str = Input(description="Who to greet", default="world")) -> str:
        return f"hello {text}"
