"""What a version environment needs to be visible inside a sandbox."""

from __future__ import annotations

import os
from pathlib import Path

# The builder's `.pth` listing the platform's site-packages (system_site_packages mode).
SYSTEM_SITE_PTH = "_modelyard_system_site.pth"


def installation(executable: Path) -> tuple[Path, ...]:
    """The installation an interpreter belongs to (`<prefix>/bin/python3.x` -> `<prefix>`);
    nothing when it is under /usr, which every sandbox has."""
    real = Path(os.path.realpath(executable))
    prefix = real.parents[1] if len(real.parents) >= 2 else real.parent
    return () if prefix.is_relative_to("/usr") else (prefix,)


def environment_paths(venv: Path) -> tuple[Path, ...]:
    """What a virtualenv needs besides itself: the interpreter installation it points at and
    any shared site dirs (all read-only; paths under /usr are in every sandbox already)."""
    python = venv / "bin" / "python"
    paths = list(installation(python)) if Path(os.path.realpath(python)) != python else []
    home = _pyvenv_home(venv)
    if home is not None:
        paths.append(home.parent)
    for pth in venv.glob(f"lib/python*/site-packages/{SYSTEM_SITE_PTH}"):
        paths += [Path(line) for line in pth.read_text().splitlines() if line.startswith("/")]
    return tuple(p for p in paths if not p.is_relative_to("/usr"))


def _pyvenv_home(venv: Path) -> Path | None:
    try:
        lines = (venv / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip().startswith("/"):
            return Path(value.strip())
    return None
