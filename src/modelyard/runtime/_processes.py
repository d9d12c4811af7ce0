"""OS-level helpers for model instances: ports, process groups, and the orphan registry.

Each spawned coglet gets a small JSON record in a `pid_dir`; a platform process that dies
without stopping its instances (SIGKILL, OOM) leaves records behind, and `kill_orphans`
run by the next platform process kills the process groups they name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Markers of a process we may kill: the coglet parent (started through `cog.server.http`)
# and its worker (`python -c "import coglet; coglet.server._run_worker()"`).
_COGLET_MARKERS = ("cog.server.http", "coglet")

# Runs coglet's launcher in the same interpreter after asking the kernel to SIGKILL it
# when the platform dies (PR_SET_PDEATHSIG = 1). Set in the child rather than with a
# `preexec_fn`, which is unsafe in a threaded parent. If the parent already died before
# the prctl took effect, exit at once.
BOOTSTRAP = """\
import os, runpy, signal, sys
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
except (AttributeError, OSError):
    pass
_parent = os.environ.pop("MODELYARD_PARENT_PID", "")
if _parent and os.getppid() != int(_parent):
    os._exit(1)
# Given here, not on the command line, which every user of the machine can read.
_upload = os.environ.pop("MODELYARD_UPLOAD_URL", "")
if _upload:
    sys.argv += ["--upload-url", _upload]
if os.environ.pop("MODELYARD_COGLET_MODE", "") == "train":
    sys.argv += ["--x-mode", "train"]
runpy.run_module("cog.server.http", run_name="__main__", alter_sys=True)
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to a process group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("not allowed to signal process group %d", pgid)
        return False
    return True


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), None if it is gone."""
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def group_members(pgid: int) -> list[int]:
    """Pids of every live process whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and int(stat[2]) == pgid:
                members.append(int(entry))
    return members


def children(pid: int) -> list[int]:
    """Direct children of `pid` (coglet spawns its worker from a non-main thread)."""
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [
                    int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return found


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is field 3, `state`)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields


def _looks_like_coglet(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return any(marker in cmdline for marker in _COGLET_MARKERS)


@dataclass(frozen=True)
class ProcessRecord:
    """What the registry remembers about one spawned instance."""

    instance_id: str
    version_id: str
    pid: int
    pgid: int
    start_time: int | None
    owner_pid: int
    owner_start_time: int | None


def record(pid_dir: Path, instance_id: str, version_id: str, pid: int) -> Path:
    """Write the record for a freshly spawned instance (its own process group)."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    entry = ProcessRecord(
        instance_id=instance_id,
        version_id=version_id,
        pid=pid,
        pgid=pid,
        start_time=start_time(pid),
        owner_pid=os.getpid(),
        owner_start_time=start_time(os.getpid()),
    )
    path = pid_dir / f"{instance_id}.json"
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(asdict(entry)))
    temp.replace(path)
    return path


def forget(pid_dir: Path, instance_id: str) -> None:
    """Remove an instance's record after a clean stop."""
    with contextlib.suppress(FileNotFoundError):
        (pid_dir / f"{instance_id}.json").unlink()


def kill_orphans(pid_dir: Path) -> int:
    """Kill the process groups of instances whose platform process died; return how many.

    A record is skipped while the process that wrote it is alive. Before killing, the group
    must still contain a coglet process (checked in /proc/<pid>/cmdline) and its leader, if
    alive, must be the very process recorded (same start time), so a reused pid is never hit.
    Every stale record is removed.
    """
    if not pid_dir.is_dir():
        return 0
    killed = 0
    for path in sorted(pid_dir.glob("*.json")):
        try:
            entry = ProcessRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            logger.warning("dropping unreadable instance record %s", path.name)
            path.unlink(missing_ok=True)
            continue
        if _alive(entry.owner_pid, entry.owner_start_time):
            continue
        if _orphan_group(entry) and kill_group(entry.pgid):
            killed += 1
            logger.warning(
                "killed orphaned instance %s (version %s, pgid %d)",
                entry.instance_id,
                entry.version_id,
                entry.pgid,
            )
        path.unlink(missing_ok=True)
    return killed


def _alive(pid: int, recorded_start: int | None) -> bool:
    current = start_time(pid)
    return current is not None and (recorded_start is None or current == recorded_start)


def _orphan_group(entry: ProcessRecord) -> bool:
    members = group_members(entry.pgid)
    if not members:
        return False
    if entry.pgid in members and not _alive(entry.pgid, entry.start_time):
        return False  # the leader's pid now belongs to another process
    return any(_looks_like_coglet(pid) for pid in members)
