import os
import tempfile

from cog import BaseRunner, Input, Path


class Runner(BaseRunner):
    def run(self, kilobytes: int = Input(default=1, ge=0, le=65536)) -> Path:
        out = Path(tempfile.mkdtemp()) / "blob.bin"
        out.write_bytes(os.urandom(kilobytes * 1024))
        return out
