import os
import time

from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, seconds: float = Input(default=1.0, ge=0, le=600)) -> str:
        print(f"worker pid {os.getpid()}", flush=True)
        deadline = time.time() + seconds
        while time.time() < deadline:
            time.sleep(0.05)
        return f"slept {seconds}"
