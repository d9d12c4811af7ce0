import os
import time

from cog import BaseRunner, Input


class Runner(BaseRunner):
    """Claims a GPU (`gpu: true`) but needs none: it reports the GPUs it was given."""

    def run(self, seconds: float = Input(default=0.0, ge=0, le=600)) -> str:
        time.sleep(seconds)
        return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
