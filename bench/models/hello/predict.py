from cog import BaseRunner


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        return "hello " + text
