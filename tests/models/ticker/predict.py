import time
from collections.abc import Iterator

from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(
        self, count: int = Input(default=20, ge=1, le=1000), interval: float = Input(default=0.1)
    ) -> Iterator[str]:
        for i in range(count):
            print(f"tick {i}")
            yield f"t{i}"
            time.sleep(interval)
