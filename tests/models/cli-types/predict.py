import json
from typing import Optional, Union

from cog import BaseRunner, Input, Path


class Runner(BaseRunner):
    def run(
        self,
        files: list[Path] = Input(description="Files, each -i files=@path"),
        words: list[str] = Input(default=["x"], description="Words"),
        int_choices: int = Input(default=3, choices=[3, 4, 5]),
        value: Union[int, float, str] = Input(default=0),  # noqa: UP007 - as Cog users write it
        flag: bool = Input(default=False),
        note: Optional[str] = Input(default=None),  # noqa: UP045
    ) -> str:
        return json.dumps(
            {
                "files": [Path(f).read_text() for f in files],
                "words": words,
                "int_choices": int_choices,
                "value": value,
                "value_type": type(value).__name__,
                "flag": flag,
                "note": note,
            }
        )
