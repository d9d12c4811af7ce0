"""How untrusted code runs: a bubblewrap sandbox, or (loudly) none.

Pushed models are untrusted. Their builds (`build.run`, schema generation) and their instances
(coglet) run under bubblewrap with:

- a clean environment (only what the caller passes; nothing of the platform's);
- a user that is not the platform's: when the platform runs as root, a dedicated unprivileged
  uid/gid (`sandbox_uid`, no supplementary groups, no capabilities, `no_new_privs`); otherwise
  the platform's own uid inside a user namespace;
- new PID, IPC, UTS and cgroup namespaces, and for instances a new network namespace (only its
  own loopback) unless the operator allows networking;
- a file-system view of the system's read-only `/usr` and a few `/etc` files, the paths the
  caller names (the model's source, its environment and interpreter, weights: read-only; a
  private `/tmp`: writable), a private `/proc` and a minimal `/dev`. Not the data directory, not
  other versions, not the database, not the platform's `/proc`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SANDBOX_TMP = Path("/tmp")
SANDBOX_SOURCE = Path("/src")  # where a model's source is, as in Cog's images
# System files a Python program commonly reads; nothing of the platform's lives here.
_ETC = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "fonts",
    "group",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
_TOP_LEVEL = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
# NVIDIA's control devices; the GPUs themselves are added per instance.
_GPU_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_SETPRIV = "/usr/bin/setpriv"
MODES = ("auto", "bwrap", "none")


class SandboxUnavailable(RuntimeError):
    """`sandbox = "bwrap"` was asked for but bubblewrap cannot run here."""


@dataclass(frozen=True)
class Mounts:
    """What a sandboxed program sees besides the system: read-only and writable host paths."""

    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    tmp: Path | None = None  # the host folder mounted as the sandbox's /tmp (and HOME)
    gpus: tuple[int, ...] = ()
    binds: tuple[tuple[Path, Path], ...] = ()  # (host path, path inside), writable
    placed: tuple[tuple[Path, Path], ...] = ()  # (host path, path inside), read-only


@dataclass(frozen=True)
class Sandbox:
    """A way to run untrusted programs; `enabled` is False when they run unsandboxed.

    sandbox = detect("auto", uid=64999)
    argv = sandbox.wrap(["python", "-c", "..."], mounts=Mounts(...), cwd=src, network=False)
    subprocess.Popen(argv, env=clean_env, ...)
    """

    bwrap: str | None
    uid: int | None  # the uid programs run as, when the platform is root; None: our own uid
    gid: int | None

    @property
    def enabled(self) -> bool:
        return self.bwrap is not None

    def wrap(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        mounts: Mounts,
        cwd: Path | None = None,
        network: bool = False,
    ) -> list[str]:
        """The command line that runs `argv` inside the sandbox (`argv` itself when disabled).

        Paths keep their host names inside (so absolute paths still work), except those
        `mounts.placed` and `mounts.binds` put elsewhere. The environment is the caller's to
        set (pass a clean one to `Popen`).
        """
        args = [os.fspath(a) for a in argv]
        if self.bwrap is None:
            return args
        out = [self.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
        out += ["--unshare-uts", "--hostname", "modelyard", "--unshare-cgroup-try"]
        if not network:
            out.append("--unshare-net")
        if self.uid is None:
            out += ["--unshare-user", "--uid", str(os.getuid()), "--gid", str(os.getgid())]
        else:
            # Root maps no user namespace (it would map the sandbox's uid to root outside):
            # setpriv drops to the sandbox user before the program runs.
            out += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        out += _system_view()
        out += ["--proc", "/proc", "--dev", "/dev"]
        for gpu in mounts.gpus:
            out += ["--dev-bind-try", f"/dev/nvidia{gpu}", f"/dev/nvidia{gpu}"]
        if mounts.gpus:
            for name in _GPU_DEVICES:
                out += ["--dev-bind-try", f"/dev/{name}", f"/dev/{name}"]
            # NVML and the CUDA driver find their devices through /sys (read-only).
            out += ["--ro-bind-try", "/sys", "/sys"]
        if mounts.tmp is not None:
            out += ["--bind", str(mounts.tmp), str(SANDBOX_TMP)]
        else:
            out += ["--tmpfs", str(SANDBOX_TMP)]
        read_only = _outermost(mounts.read_only)
        elsewhere = (*mounts.binds, *mounts.placed)
        targets = [*read_only, *mounts.writable, *(inside for _, inside in elsewhere)]
        for folder in _parents(targets):
            # bwrap would copy the host folder's mode (/root is 0700): the sandbox user
            # must be able to walk down to what it is given.
            out += ["--perms", "0755", "--dir", str(folder)]
        for path in read_only:
            out += ["--ro-bind", str(path), str(path)]
        for path in mounts.writable:
            out += ["--bind", str(path), str(path)]
        for host, inside in mounts.binds:
            out += ["--bind", str(host), str(inside)]
        for host, inside in mounts.placed:
            out += ["--ro-bind", str(host), str(inside)]
        if cwd is not None:
            out += ["--chdir", str(cwd)]
        out.append("--")
        if self.uid is not None:
            out += [_SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            out.append("--")
        return out + args

    def give(self, path: Path) -> None:
        """Hand a folder the platform made to the sandbox user (its private /tmp, say).

        A folder the sandbox user owns already is left as it is (its files are its own)."""
        if self.uid is not None and self.gid is not None and path.stat().st_uid != self.uid:
            _chown_tree(path, self.uid, self.gid)

    def reclaim(self, path: Path) -> None:
        """Take a folder back from the sandbox user: no sandboxed program may change it now,
        and every sandbox it is mounted into (read-only) may read it, whatever modes the
        build left (safetensors writes 0600 files)."""
        if self.uid is not None and path.exists():
            _chown_tree(path, os.getuid(), os.getgid())
            _readable_tree(path)


NO_SANDBOX = Sandbox(bwrap=None, uid=None, gid=None)


def _readable_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        os.chmod(root, os.stat(root).st_mode | 0o755)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                mode = os.stat(full).st_mode
                os.chmod(full, mode | 0o444 | (0o111 if mode & 0o100 else 0))


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, n) for n in dirs + files)):
            os.lchown(name, uid, gid)


def detect(mode: str = "auto", *, uid: int = 64999, gid: int | None = None) -> Sandbox:
    """The sandbox this machine can give, per the `sandbox` setting.

    `auto` uses bubblewrap when it runs here and warns loudly otherwise; `bwrap` raises
    SandboxUnavailable when it does not; `none` runs pushed code unsandboxed (with a warning).
    """
    if mode not in MODES:
        raise ValueError(f"sandbox must be one of {', '.join(MODES)}")
    if mode == "none":
        logger.warning(_UNSANDBOXED, "the sandbox is turned off (--sandbox none)")
        return NO_SANDBOX
    root = os.geteuid() == 0
    if root and uid == 0:
        raise ValueError("--sandbox-uid must not be 0: sandboxed code would run as root")
    candidate = Sandbox(
        bwrap=shutil.which("bwrap"),
        uid=uid if root else None,
        gid=(gid if gid is not None else uid) if root else None,
    )
    problem = _probe(candidate)
    if problem is None:
        return candidate
    if mode == "bwrap":
        raise SandboxUnavailable(f"bubblewrap cannot run here: {problem}")
    logger.warning(_UNSANDBOXED, problem)
    return NO_SANDBOX


_UNSANDBOXED = (
    "\n*** MODELS RUN UNSANDBOXED: %s. ***\n"
    "*** Pushed code runs as this platform's user and can read its data directory. ***\n"
    "*** Install bubblewrap (Debian: apt-get install bubblewrap) for the sandbox. ***"
)


def _probe(sandbox: Sandbox) -> str | None:
    """None when `sandbox` runs a program here; else why not."""
    if sandbox.bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    if sandbox.uid is not None and not os.path.exists(_SETPRIV):
        return f"{_SETPRIV} (util-linux) is missing"
    argv = sandbox.wrap(["/bin/true"], mounts=Mounts(), network=False)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start ({exc})"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap failed: {reason[-1] if reason else done.returncode}"
    return None


@functools.cache
def _system_view() -> tuple[str, ...]:
    """Read-only /usr, the top-level links or folders into it, and the /etc files above."""
    out = ["--ro-bind", "/usr", "/usr"]
    for name in _TOP_LEVEL:
        path = Path("/") / name
        if path.is_symlink():
            out += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            out += ["--ro-bind", str(path), str(path)]
    out += ["--perms", "0755", "--dir", "/etc"]  # else made 0700, closed to the sandbox user
    for name in _ETC:
        out += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return tuple(out)


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """Existing paths, each once, dropping those inside another (bound already)."""
    unique = sorted({p for p in paths if p.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path == k or path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def _parents(targets: Sequence[Path]) -> list[Path]:
    """The folders above `targets` that the sandbox's own root must create."""
    system = (Path("/usr"), Path("/proc"), Path("/dev"))  # binds and mounts, read-only
    found: set[Path] = set()
    for target in targets:
        for parent in target.parents:
            if parent != Path("/") and not any(parent.is_relative_to(s) for s in system):
                found.add(parent)
    inside_target = {p for p in found if any(p.is_relative_to(t) for t in targets)}
    return sorted(found - inside_target, key=lambda p: len(p.parts))


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment for sandboxed programs: locale, PATH, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LANGUAGE", "TZ")}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(SANDBOX_TMP))
    env.update(extra)
    return env
