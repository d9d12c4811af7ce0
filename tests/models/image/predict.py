import tempfile

from cog import BaseRunner, Input, Path
from pngs import png


class Runner(BaseRunner):
    def run(self, size: int = Input(default=8, ge=1, le=512)) -> Path:
        out = Path(tempfile.mkdtemp()) / "square.png"
        out.write_bytes(png(size, size, (200, 30, 60)))
        return out
