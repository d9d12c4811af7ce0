"""Version environments built with the real uv: caching, locking, failures, Python fallback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modelyard.builder import (
    COG_VERSION,
    CogConfig,
    UvPipArgs,
    build_env,
    build_version,
    check_system_packages,
    interpreters,
    load_cog_config,
)
from modelyard.builder.environments import MARKER, env_key
from modelyard.builder.interpreters import Interpreter, host_interpreter, uv_bin
from modelyard.core.errors import BuildError

HOST_VERSION = ".".join(str(part) for part in sys.version_info[:3])


def _tiny_wheel() -> bytes:
    """A minimal pure-Python wheel, byte-for-byte the same on every run."""
    files = {
        "tinypkg/__init__.py": b'VALUE = "tiny"\n',
        "tinypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        "tinypkg-0.1.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-0.1.dist-info/RECORD,,")
    files["tinypkg-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


async def _env(model: Path, envs_dir: Path, lines: list[str] | None = None, **kwargs):
    log = (lines if lines is not None else []).append
    return await build_env(load_cog_config(model), model, envs_dir=envs_dir, log=log, **kwargs)


async def test_cached_env_is_reused(make_model, shared_envs_dir: Path) -> None:
    first = await _env(make_model(), shared_envs_dir)
    lines: list[str] = []
    second = await _env(make_model(), shared_envs_dir, lines)
    assert second.reused is True
    assert second.venv_dir == first.venv_dir == shared_envs_dir / first.key
    assert second.python_actual == HOST_VERSION
    assert second.cog_version == COG_VERSION
    assert (second.venv_dir / MARKER).is_file()
    assert any("Using cached environment" in line for line in lines)
    version = subprocess.run(
        [second.python_executable, "-c", "import cog, coglet; print(cog.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == COG_VERSION


async def test_env_holds_compiled_bytecode(make_model, shared_envs_dir: Path) -> None:
    # Instances mount the environment read-only: a module not compiled at build time would be
    # compiled again at every boot, in coglet's server and in its worker.
    env = await _env(make_model(), shared_envs_dir)
    site = next(env.venv_dir.glob("lib/python*/site-packages"))
    for module in ("cog/__init__.py", "cog/server/http.py", "coglet/__init__.py"):
        assert Path(importlib.util.cache_from_source(str(site / module))).is_file(), module


async def test_local_wheel_requirement(make_model, shared_envs_dir: Path) -> None:
    model = make_model(
        {
            "cog.yaml": "run: predict.py:Runner\nbuild:\n  python_requirements: requirements.txt\n",
            "requirements.txt": "./wheels/tinypkg-0.1-py3-none-any.whl\n",
            "wheels/tinypkg-0.1-py3-none-any.whl": _tiny_wheel(),
        }
    )
    env = await _env(model, shared_envs_dir)
    result = subprocess.run(
        [env.python_executable, "-c", "import tinypkg; print(tinypkg.VALUE)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "tiny"


async def test_unsatisfiable_requirement(make_model, tmp_path: Path) -> None:
    model = make_model(
        {
            "cog.yaml": """
            run: predict.py:Runner
            build:
              python_packages:
                - this-package-does-not-exist-xyz==1.0
            """
        }
    )
    envs = tmp_path / "envs"
    with pytest.raises(BuildError) as caught:
        await _env(model, envs)
    assert caught.value.detail.startswith("Installing the model's Python requirements failed")
    assert "this-package-does-not-exist-xyz" in caught.value.detail
    assert "this-package-does-not-exist-xyz" in caught.value.logs
    leftovers = [p.name for p in envs.iterdir() if not p.name.startswith(".")]
    assert leftovers == []
    assert list((envs / ".tmp").iterdir()) == []


def test_missing_system_packages_are_named() -> None:
    with pytest.raises(BuildError) as caught:
        check_system_packages(("bash", "no-such-package-abc", "no-such-package-def"))
    assert "no-such-package-abc, no-such-package-def" in caught.value.detail
    assert "bash" not in caught.value.detail
    check_system_packages(("bash",))


async def test_build_fails_on_missing_system_package(make_model, shared_envs_dir) -> None:
    model = make_model(
        {"cog.yaml": "run: predict.py:Runner\nbuild:\n  system_packages: [no-such-package-abc]\n"}
    )
    with pytest.raises(BuildError, match="no-such-package-abc"):
        await build_version(model, envs_dir=shared_envs_dir, log=lambda line: None)


def _missing_python() -> str:
    """A supported Python version this host's uv cannot find (uv misses pyenv's versions)."""
    for candidate in ("3.12", "3.10", "3.13"):
        if candidate == host_interpreter().minor:
            continue
        found = subprocess.run(
            [uv_bin(), "python", "find", "--no-config", candidate],
            capture_output=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            check=False,
        )
        if found.returncode != 0 and not Path(f"/usr/bin/python{candidate}").exists():
            return candidate
    raise AssertionError("pick a Python version this machine lacks for the fallback test")


async def test_python_version_falls_back_to_host(
    make_model, shared_envs_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    missing = _missing_python()
    model = make_model(
        {"cog.yaml": f'build:\n  python_version: "{missing}"\nrun: predict.py:Runner\n'}
    )
    lines: list[str] = []
    version = await build_version(
        model, envs_dir=shared_envs_dir, log=lines.append, python_downloads=False
    )
    assert version.python_requested == missing
    assert version.python_actual == HOST_VERSION
    assert version.config["build"]["python_version"] == missing
    assert any(f"Python {missing} is not available" in line for line in lines)


def test_pyenv_versions_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # uv does not see pyenv's interpreters behind its shims; the builder looks for them.
    fake = tmp_path / "versions" / "3.12.9" / "bin" / "python3.12"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 3.12.9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setattr(interpreters, "_uv_find", lambda requested: None)
    found = interpreters.find_interpreter("3.12", log=lambda line: None, downloads=False)
    assert (found.path, found.version) == (fake, "3.12.9")


async def test_concurrent_builds_of_one_key_build_once(make_model, tmp_path: Path) -> None:
    model = make_model()
    envs = tmp_path / "envs"
    lines: list[str] = []
    first, second = await asyncio.gather(_env(model, envs, lines), _env(model, envs, lines))
    assert first.venv_dir == second.venv_dir
    assert sum("Creating a Python" in line for line in lines) == 1
    assert sorted([first.reused, second.reused]) == [False, True]


async def test_incomplete_env_is_rebuilt(make_model, tmp_path: Path) -> None:
    model = make_model()
    envs = tmp_path / "envs"
    env = await _env(model, envs)
    (env.venv_dir / MARKER).unlink()
    (env.venv_dir / "leftover").write_text("partial build")
    rebuilt = await _env(model, envs)
    assert rebuilt.reused is False
    assert rebuilt.venv_dir == env.venv_dir
    assert not (rebuilt.venv_dir / "leftover").exists()


async def test_build_run_commands(make_model, tmp_path: Path) -> None:
    model = make_model(
        {
            "cog.yaml": """
            run: predict.py:Runner
            environment:
              - GREETING=hello build
            build:
              run:
                - echo "$GREETING" > "$VIRTUAL_ENV/greeting.txt"
                - command: python -c 'import sys; print(sys.prefix)' > "$VIRTUAL_ENV/prefix.txt"
                - pwd > "$VIRTUAL_ENV/cwd.txt" && command -v pip > "$VIRTUAL_ENV/pip.txt"
            """
        }
    )
    lines: list[str] = []
    env = await _env(model, tmp_path / "envs", lines)
    venv = env.venv_dir
    assert (venv / "greeting.txt").read_text().strip() == "hello build"
    assert Path((venv / "prefix.txt").read_text().strip()) == venv
    assert Path((venv / "cwd.txt").read_text().strip()) != model
    assert Path((venv / "pip.txt").read_text().strip()).parent == venv / "bin"
    assert any("build.run command 3 of 3" in line for line in lines)


async def test_failing_build_run_command(make_model, tmp_path: Path) -> None:
    model = make_model(
        {"cog.yaml": "run: predict.py:Runner\nbuild:\n  run:\n    - echo before; exit 3\n"}
    )
    envs = tmp_path / "envs"
    with pytest.raises(BuildError, match="build.run command 1 exited with code 3") as caught:
        await _env(model, envs)
    assert "before" in caught.value.logs
    assert [p.name for p in envs.iterdir() if not p.name.startswith(".")] == []


def test_env_key_depends_on_what_goes_in(tmp_path: Path) -> None:
    base = CogConfig(predict_ref="predict.py:Runner", requirements="six\n")
    python = Interpreter(Path("/usr/bin/python3"), "3.11.7")
    pip = UvPipArgs(args=("--index-strategy", "unsafe-best-match"))
    key = env_key(base, tmp_path, python, pip)
    assert len(key) == 64
    assert env_key(base, tmp_path, python, pip) == key
    # python_requested does not count: only the interpreter actually used does.
    assert env_key(CogConfig(predict_ref="x.py", requirements="six\n", python_version="3.12"),
                   tmp_path, python, pip) == key  # fmt: skip
    assert env_key(base, tmp_path, Interpreter(python.path, "3.11.8"), pip) != key
    other = CogConfig(predict_ref="predict.py:Runner", requirements="six==1.17.0\n")
    assert env_key(other, tmp_path, python, pip) != key
    with_run = CogConfig(predict_ref="p.py", requirements="six\n", build_run=("echo",))
    assert env_key(with_run, tmp_path, python, pip) != key
    more_pip = UvPipArgs(args=(*pip.args, "--find-links", "/wheels"))
    assert env_key(base, tmp_path, python, more_pip) != key


async def test_system_site_packages_share_the_platform_packages(
    make_model, shared_envs_dir: Path
) -> None:
    model = make_model()
    plain = await _env(model, shared_envs_dir)
    lines: list[str] = []
    shared = await _env(model, shared_envs_dir, lines, system_site_packages=True)
    assert shared.venv_dir != plain.venv_dir  # a separate cache entry
    probe = "import rich, cog; print(rich.__file__); print(cog.__file__)"
    seen = subprocess.run(
        [shared.python_executable, "-c", probe], capture_output=True, text=True, check=True
    )
    rich_file, cog_file = seen.stdout.split()
    # rich comes from the platform's own environment; cog and coglet stay the env's own.
    assert Path(rich_file).is_relative_to(Path(sys.prefix))
    assert Path(cog_file).is_relative_to(shared.venv_dir)
    assert "include-system-site-packages = true" in (shared.venv_dir / "pyvenv.cfg").read_text()
    if shared.reused is False:
        assert any("Sharing the platform's Python packages" in line for line in lines)
    hidden = subprocess.run([plain.python_executable, "-c", "import rich"], capture_output=True)
    assert hidden.returncode != 0
