from cog import BaseRunner, ConcatenateIterator


class Runner(BaseRunner):
    def run(self) -> ConcatenateIterator[str]:
        yield "partial"
        raise RuntimeError("the stream broke")
