"""Regenerate docs/demo.svg: a real `modelyard push` → `run` → stream session, as a terminal
screenshot. Run it from the repository root with a server up (`make serve`) and its token in
MODELYARD_TOKEN: `.venv/bin/python docs/record_demo.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

STEPS = [
    ["modelyard", "push", "tests/models/tokens", "admin/tokens"],
    ["modelyard", "run", "admin/tokens", "-i", "prefix=Hello", "-i", "pause=0.3"],
]


def main() -> None:
    console = Console(record=True, width=96, force_terminal=True)
    binary = Path(sys.executable).parent
    for step in STEPS:
        console.print(Text("$ ", style="bold green") + Text(" ".join(step), style="bold"))
        result = subprocess.run(
            [str(binary / step[0]), *step[1:]], capture_output=True, text=True, check=False
        )
        lines = (result.stderr + result.stdout).splitlines()
        for line in lines[-8:]:  # a push's build log is long: its end tells the story
            console.print(Text(line), highlight=False)
    Path("docs/demo.svg").write_text(console.export_svg(title="modelyard: push, run, stream"))


if __name__ == "__main__":
    main()
