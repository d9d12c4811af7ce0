from cog import BaseRunner


class Runner(BaseRunner):
    def setup(self) -> None:
        print("loading weights")
        raise RuntimeError("the weights file is corrupt")

    def run(self) -> str:
        return "never"
