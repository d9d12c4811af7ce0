from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, reason: str = Input(default="the model refused")) -> str:
        print("about to fail")
        raise ValueError(reason)
