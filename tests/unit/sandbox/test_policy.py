"""The sandbox's command line, its detection, and what it gives a program to see."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modelyard.sandbox import (
    NO_SANDBOX,
    Mounts,
    Sandbox,
    SandboxUnavailable,
    clean_environment,
    detect,
    listen_unix,
)


def test_disabled_sandbox_runs_the_program_as_it_is() -> None:
    assert NO_SANDBOX.wrap(["python", "-c", "1"], mounts=Mounts()) == ["python", "-c", "1"]
    assert not NO_SANDBOX.enabled


def test_wrap_isolates_namespaces_and_network_by_default() -> None:
    sandbox = Sandbox(bwrap="/usr/bin/bwrap", uid=64999, gid=64999)
    argv = sandbox.wrap(["prog"], mounts=Mounts(read_only=(Path("/opt/x"),)), cwd=Path("/src"))
    assert argv[0] == "/usr/bin/bwrap"
    for flag in ("--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-net"):
        assert flag in argv
    assert argv[argv.index("--chdir") + 1] == "/src"
    # Under root the program drops to the sandbox user before it starts.
    tail = argv[argv.index("--") + 1 :]
    assert tail[:4] == ["/usr/bin/setpriv", "--reuid=64999", "--regid=64999", "--clear-groups"]
    assert tail[-1] == "prog"
    assert "--unshare-net" not in sandbox.wrap(["prog"], mounts=Mounts(), network=True)


def test_an_instance_sees_only_the_gpus_it_was_given() -> None:
    sandbox = Sandbox(bwrap="/usr/bin/bwrap", uid=None, gid=None)
    argv = " ".join(sandbox.wrap(["prog"], mounts=Mounts(gpus=(1,))))
    assert "--dev-bind-try /dev/nvidia1 /dev/nvidia1" in argv
    assert "/dev/nvidia0" not in argv and "--dev-bind-try /dev/nvidiactl" in argv
    assert "/dev/nvidia" not in " ".join(sandbox.wrap(["prog"], mounts=Mounts()))


def test_wrap_without_root_maps_a_user_namespace() -> None:
    sandbox = Sandbox(bwrap="/usr/bin/bwrap", uid=None, gid=None)
    argv = sandbox.wrap(["prog"], mounts=Mounts())
    assert "--unshare-user" in argv and "setpriv" not in " ".join(argv)


def test_nested_read_only_paths_are_bound_once(tmp_path: Path) -> None:
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    sandbox = Sandbox(bwrap="/usr/bin/bwrap", uid=None, gid=None)
    argv = sandbox.wrap(["prog"], mounts=Mounts(read_only=(inner, tmp_path / "a")))
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert str(tmp_path / "a") in binds and str(inner) not in binds


def test_detect_refuses_a_root_sandbox_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root chooses the sandbox user")
    with pytest.raises(ValueError, match="must not be 0"):
        detect("auto", uid=0)


def test_detect_without_bubblewrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    with pytest.raises(SandboxUnavailable, match="not installed"):
        detect("bwrap")
    assert detect("auto") is NO_SANDBOX
    assert detect("none") is NO_SANDBOX


def test_clean_environment_keeps_nothing_of_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_SECRET_KEY", "s3cret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret")
    env = clean_environment({"COG_WEIGHTS": "/w"})
    assert "s3cret" not in env.values()
    assert env["COG_WEIGHTS"] == "/w" and env["HOME"] == "/tmp"


def test_listen_unix_binds_a_deep_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "upload.sock"
    assert len(str(path)) > 108  # too long for a plain bind
    with listen_unix(path, mode=0o600) as sock:
        assert path.is_socket()
        assert path.stat().st_mode & 0o777 == 0o600
        assert sock.getsockname()


def test_a_sandboxed_program_sees_only_what_it_is_given(tmp_path: Path) -> None:
    assert shutil.which("bwrap"), "bubblewrap is missing: `make test` installs it (Debian)"
    sandbox = detect("bwrap")
    given = tmp_path / "given"
    given.mkdir()
    (given / "file.txt").write_text("visible")
    hidden = tmp_path / "hidden.txt"
    hidden.write_text("secret")
    script = (
        f"cat {given}/file.txt; echo; "
        f"cat {hidden} 2>/dev/null || echo hidden-refused; "
        f"echo x > {given}/new 2>/dev/null || echo write-refused; "
        "id -u"
    )
    argv = sandbox.wrap(["/bin/sh", "-c", script], mounts=Mounts(read_only=(given,)))
    done = subprocess.run(argv, capture_output=True, text=True, env={}, timeout=60)
    lines = done.stdout.split()
    assert lines[:3] == ["visible", "hidden-refused", "write-refused"], done
    if os.geteuid() == 0:
        assert lines[3] != "0"


def test_reclaim_takes_a_build_back_and_leaves_it_readable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands folders to another user")
    sandbox = Sandbox(bwrap="/usr/bin/bwrap", uid=64999, gid=64999)
    built = tmp_path / "env"
    (built / "share").mkdir(parents=True)
    weights = built / "share" / "model.safetensors"
    weights.write_bytes(b"w")
    weights.chmod(0o600)  # as safetensors writes them
    sandbox.give(built)
    assert weights.stat().st_uid == 64999
    sandbox.reclaim(built)
    assert weights.stat().st_uid == os.getuid()
    assert weights.stat().st_mode & 0o777 == 0o644
    assert (built / "share").stat().st_mode & 0o755 == 0o755
