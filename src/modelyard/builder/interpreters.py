"""Find a version's Python interpreter: one uv knows, a uv download, else the host's."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin

from modelyard.builder._procs import LogFn, run_quiet, run_streamed

logger = logging.getLogger(__name__)

INSTALL_TIMEOUT_S = 120.0
# A failed `uv python install` (offline host) is not retried for this long in one process.
_FAILED_INSTALL_TTL_S = 600.0
_failed_installs: dict[str, float] = {}
_VERSION_CODE = "import platform; print(platform.python_version())"


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter on this host and its full version (e.g. "3.11.7")."""

    path: Path
    version: str

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def uv_bin() -> str:
    """The uv executable shipped by the `uv` wheel."""
    return os.fspath(find_uv_bin())


def host_interpreter() -> Interpreter:
    """The interpreter running modelyard (the real one behind a virtualenv)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    version = ".".join(str(part) for part in sys.version_info[:3])
    return Interpreter(Path(base), version)


def find_interpreter(requested: str | None, *, log: LogFn, downloads: bool = True) -> Interpreter:
    """The interpreter for `build.python_version`, falling back to the host's.

    Tries `uv python find` (installed interpreters only), then `uv python install` when
    `downloads` is true (skipped for a while after it failed, e.g. offline), then the
    host's interpreter; the caller records requested and actual versions.
    """
    if requested is None:
        return host_interpreter()
    host = host_interpreter()
    if host.minor == requested or host.version == requested:
        return host
    found = _uv_find(requested) or _known_location(requested)
    if found is None and downloads and _may_try_install(requested):
        log(f"Python {requested} is not installed; trying `uv python install {requested}`")
        result = run_streamed(
            [uv_bin(), "python", "install", requested],
            log=log,
            env={**os.environ, "UV_HTTP_RETRIES": "0", "NO_COLOR": "1"},
            timeout=INSTALL_TIMEOUT_S,
        )
        if result.ok:
            found = _uv_find(requested)
        else:
            _failed_installs[requested] = time.monotonic()
    if found is not None:
        return found
    log(
        f"Python {requested} is not available on this host; "
        f"building with Python {host.version} instead"
    )
    return host


def interpreter_version(path: Path) -> str | None:
    """The full version of the interpreter at `path`, or None when it does not run."""
    result = run_quiet([path, "-c", _VERSION_CODE], timeout=30)
    if not result.ok or not result.tail:
        return None
    return result.tail[0].strip()


def _uv_find(requested: str) -> Interpreter | None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
    result = run_quiet([uv_bin(), "python", "find", "--no-config", requested], env=env)
    if not result.ok or not result.tail:
        return None
    path = Path(result.tail[0].strip())
    version = interpreter_version(path)
    if version is None or not (version == requested or version.startswith(requested + ".")):
        return None
    return Interpreter(path, version)


def _known_location(requested: str) -> Interpreter | None:
    """Interpreters uv misses: pyenv's versions (its shims hide them) and the system's."""
    minor = ".".join(requested.split(".")[:2])
    roots = [Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"]
    candidates = [
        *sorted(
            (p / "bin" / f"python{minor}" for r in roots if r.is_dir() for p in r.iterdir()),
            reverse=True,
        ),
        Path(f"/usr/local/bin/python{minor}"),
        Path(f"/usr/bin/python{minor}"),
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            version = interpreter_version(path)
            if version and (version == requested or version.startswith(requested + ".")):
                return Interpreter(path, version)
    return None


def _may_try_install(requested: str) -> bool:
    failed_at = _failed_installs.get(requested)
    return failed_at is None or time.monotonic() - failed_at > _FAILED_INSTALL_TTL_S
