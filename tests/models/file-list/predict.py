import tempfile

from cog import BaseRunner, Input, Path


class Runner(BaseRunner):
    def run(
        self,
        sizes: list[int] = Input(description="Bytes of each file, in output order"),
        ext: str = Input(default="txt", choices=["txt", "png", "bin"]),
    ) -> list[Path]:
        folder = Path(tempfile.mkdtemp())
        outputs = []
        for index, size in enumerate(sizes):
            path = folder / f"f{index}.{ext}"
            path.write_bytes(f"{index}:".encode().ljust(max(size, 8), b"."))
            outputs.append(path)
        return outputs
