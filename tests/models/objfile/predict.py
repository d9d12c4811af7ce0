import tempfile

from cog import BaseModel, BaseRunner, Path


class Result(BaseModel):
    label: str
    file: Path


class Runner(BaseRunner):
    def run(self) -> Result:
        out = Path(tempfile.mkdtemp()) / "note.txt"
        out.write_text("inside an object")
        return Result(label="ok", file=out)
