import tempfile
import time

from cog import BaseModel, Input, Path


class TrainingOutput(BaseModel):
    weights: Path


def train(
    lines: Path = Input(description="A text file; each line is learned"),
    pause: float = Input(default=0.0, ge=0, le=120, description="Seconds to spend on each line"),
    fail: bool = Input(default=False, description="Raise instead of training"),
) -> TrainingOutput:
    learned = [line.strip() for line in lines.read_text().splitlines() if line.strip()]
    for number in range(1, len(learned) + 1):
        print(f"learning line {number}/{len(learned)}", flush=True)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:  # short sleeps: a cancel lands between them
            time.sleep(0.05)
    if fail:
        raise ValueError("the training data is unusable")
    out = Path(tempfile.mkdtemp()) / "weights.txt"
    out.write_text("\n".join(learned) + "\n")
    return TrainingOutput(weights=out)
