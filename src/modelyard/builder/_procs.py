"""Run a build subprocess, streaming each output line to a callback and keeping the tail."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

LogFn = Callable[[str], None]
TAIL_LINES = 200
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    tail: tuple[str, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail_text(self) -> str:
        return "\n".join(self.tail)


def redact(text: str) -> str:
    """Hide `user:password@` in URLs so index credentials never reach logs or errors."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


def run_streamed(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: LogFn,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> ProcessResult:
    """Run `argv` with stdout and stderr merged, passing each line to `log` as it comes.

    Kills the whole process group when `timeout` seconds pass. Never raises for a non-zero
    exit; `OSError` from starting the program is passed through.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    process = subprocess.Popen(
        [os.fspath(arg) for arg in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        _kill_group(process)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    stdout = process.stdout
    if stdout is None:  # pragma: no cover - stdout=PIPE always sets it
        raise RuntimeError("subprocess has no stdout pipe")
    try:
        for raw in stdout:
            line = redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            tail.append(line)
            log(line)
        returncode = process.wait()
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        stdout.close()
    return ProcessResult(returncode, tuple(tail), timed_out=expired.is_set())


def run_quiet(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> ProcessResult:
    """Run a short command and capture its output (no streaming); a timeout is a failure."""
    try:
        completed = subprocess.run(
            [os.fspath(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ProcessResult(-1, (), timed_out=True)
    except OSError as exc:
        return ProcessResult(-1, (str(exc),))
    out = completed.stdout.decode("utf-8", errors="replace").splitlines()
    err = completed.stderr.decode("utf-8", errors="replace").splitlines()
    return ProcessResult(completed.returncode, tuple(out + err))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
