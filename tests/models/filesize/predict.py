import hashlib

from cog import BaseRunner, Input, Path


class Runner(BaseRunner):
    def run(self, file: Path = Input(description="Any file")) -> str:
        data = Path(file).read_bytes()
        return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"
