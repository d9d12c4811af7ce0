from cog import BaseRunner


class Runner(BaseRunner):
    def run(self) -> str:
        return "ok"
