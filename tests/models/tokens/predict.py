import time

from cog import BaseRunner, ConcatenateIterator, Input


class Runner(BaseRunner):
    def run(
        self,
        prefix: str = Input(default="hello"),
        pause: float = Input(default=2.0, ge=0, le=30),
    ) -> ConcatenateIterator[str]:
        yield prefix
        print("first token sent")
        time.sleep(pause)
        yield " world"
        yield "\nsecond line"
        yield "!"
