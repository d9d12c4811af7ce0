import time

from cog import BaseRunner, ConcatenateIterator


class Runner(BaseRunner):
    def run(self) -> ConcatenateIterator[str]:
        yield "first"
        time.sleep(0.05)
        yield " last"
