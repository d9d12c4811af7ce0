from cog import Input


def run(a: int = Input(default=2), b: int = Input(default=3)) -> int:
    return a * b
