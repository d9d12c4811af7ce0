"""Version environments: a uv virtualenv with cog, coglet and the model's requirements, cached."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.from_thread
import anyio.to_thread

from modelyard.builder._procs import LogFn, ProcessResult, run_quiet, run_streamed
from modelyard.builder._sandboxed import build_environment, local_paths, pip_env
from modelyard.builder.bundle import bundle_digest
from modelyard.builder.config import CogConfig
from modelyard.builder.interpreters import Interpreter, find_interpreter, uv_bin
from modelyard.builder.pipconfig import UvPipArgs, pip_install_args
from modelyard.core.errors import BuildError
from modelyard.sandbox import (
    NO_SANDBOX,
    SANDBOX_TMP,
    SYSTEM_SITE_PTH,
    Mounts,
    Sandbox,
    installation,
)

logger = logging.getLogger(__name__)

COG_VERSION = "0.23.1"
COGLET_VERSION = "0.23.1"
MARKER = "modelyard-env.json"
_KEY_FORMAT = 2  # 2: bytecode compiled at build time
INSTALL_TIMEOUT_S = 3600.0
_SYSTEM_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.\-:~]*$")


@dataclass(frozen=True)
class VersionEnv:
    """A complete, cached environment a version runs in."""

    key: str
    venv_dir: Path
    python_executable: Path
    python_requested: str | None
    python_actual: str
    cog_version: str
    coglet_version: str
    reused: bool


def check_system_packages(packages: tuple[str, ...]) -> None:
    """Raise `BuildError` naming every `build.system_packages` entry this host lacks.

    The host is not changed: the operator installs system packages (dpkg is asked when
    present, otherwise a program of that name on PATH counts).
    """
    missing = [name for name in packages if not _system_package_present(name)]
    if missing:
        raise BuildError(
            "These build.system_packages are not installed on this host: "
            f"{', '.join(missing)}. Ask the operator to install them "
            "(apt-get install ...) or remove them from cog.yaml."
        )


def platform_site_dirs() -> list[str]:
    """The site-packages folders of the Python running the platform (where torch may live)."""
    seen: list[str] = []
    for entry in sys.path:
        if Path(entry).name in ("site-packages", "dist-packages") and os.path.isdir(entry):
            if entry not in seen:
                seen.append(entry)
    return seen


def shared_site_dirs(interpreter: Interpreter) -> list[str]:
    """What a `system_site_packages` environment sees of the platform's own packages.

    Only an environment on the platform's own Python minor version can use them (compiled
    packages such as torch are built for one); others get none.
    """
    if interpreter.minor != "{}.{}".format(*sys.version_info[:2]):
        return []
    return platform_site_dirs()


def env_key(
    config: CogConfig,
    model_dir: Path,
    interpreter: Interpreter,
    pip: UvPipArgs,
    system_site_packages: bool = False,
) -> str:
    """Cache key: sha256 over everything that decides what the environment contains."""
    material = {
        "format": _KEY_FORMAT,
        "python": interpreter.version,
        "cog": COG_VERSION,
        "coglet": COGLET_VERSION,
        "requirements": config.requirements,
        "local_files": {name: _content_hash(model_dir / name) for name in config.local_files},
        "build_run": list(config.build_run),
        # build.run commands see the environment, so it matters only when there are some.
        "environment": dict(config.environment) if config.build_run else {},
        "pip_args": list(pip.args),
        "constraints": _constraint_hashes(pip),
    }
    if system_site_packages:  # absent otherwise, so existing keys stay the same
        material["system_site"] = shared_site_dirs(interpreter) or ["base"]
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


async def build_env(
    config: CogConfig,
    model_dir: Path,
    *,
    envs_dir: Path,
    log: LogFn,
    pip: UvPipArgs | None = None,
    python_downloads: bool = True,
    system_site_packages: bool = False,
    sandbox: Sandbox = NO_SANDBOX,
) -> VersionEnv:
    """Async form of `build_env_sync`: runs in a worker thread, `log` is called on the loop."""

    def log_on_loop(line: str) -> None:
        anyio.from_thread.run_sync(log, line)

    work = functools.partial(
        build_env_sync,
        config,
        model_dir,
        envs_dir=envs_dir,
        log=log_on_loop,
        pip=pip,
        python_downloads=python_downloads,
        system_site_packages=system_site_packages,
        sandbox=sandbox,
    )
    return await anyio.to_thread.run_sync(work)


def build_env_sync(
    config: CogConfig,
    model_dir: Path,
    *,
    envs_dir: Path,
    log: LogFn,
    pip: UvPipArgs | None = None,
    python_downloads: bool = True,
    system_site_packages: bool = False,
    sandbox: Sandbox = NO_SANDBOX,
) -> VersionEnv:
    """Return the environment for `config`, building it unless a complete one is cached.

    Builds in a temporary directory, renames it to `<envs_dir>/<key>`, runs `build.run`
    there and writes a marker last; a directory without the marker is never used. An
    exclusive file lock per key makes concurrent builds of one key build it once.
    Raises `BuildError` for missing system packages, requirements uv cannot install and
    failing `build.run` commands, with the output tail in `logs`.

    `system_site_packages` makes the platform's own Python packages visible in the
    environment instead of installing them (e.g. torch on a GPU machine that reaches no
    package index): the venv is created with `--system-site-packages`, and a `.pth` file
    adds the platform's site-packages folders after the environment's own.

    Package builds and `build.run` run the model author's code: under `sandbox` they see a
    clean environment, only the environment being built (writable), its interpreter, the
    model directory (read-only, for local wheels) and the package sources, as the sandbox user.
    """
    check_system_packages(config.system_packages)
    pip = pip_install_args() if pip is None else pip
    interpreter = find_interpreter(config.python_version, log=log, downloads=python_downloads)
    key = env_key(config, model_dir, interpreter, pip, system_site_packages)
    final = envs_dir / key
    env = _complete_env(final, key, config, interpreter)
    if env is not None:
        log(f"Using cached environment {key[:12]} (Python {interpreter.version})")
        return env
    with _key_lock(envs_dir, key):
        env = _complete_env(final, key, config, interpreter)
        if env is not None:
            log(f"Using cached environment {key[:12]} (Python {interpreter.version})")
            return env
        started = time.monotonic()
        shared = shared_site_dirs(interpreter) if system_site_packages else None
        if system_site_packages and not shared:
            log(
                f"The platform's packages are for another Python than {interpreter.version}; "
                "the environment sees the interpreter's own site-packages only"
            )
        _build(config, model_dir, envs_dir, key, interpreter, pip, log, shared, sandbox)
        elapsed = time.monotonic() - started
        _write_marker(final, key, interpreter, elapsed)
        log(f"Built environment {key[:12]} in {elapsed:.1f}s")
    env = _complete_env(final, key, config, interpreter)
    if env is None:  # pragma: no cover - the marker was just written
        raise BuildError("The environment was built but cannot be used; push again.")
    return dataclasses.replace(env, reused=False)


def _build(
    config: CogConfig,
    model_dir: Path,
    envs_dir: Path,
    key: str,
    interpreter: Interpreter,
    pip: UvPipArgs,
    log: LogFn,
    shared: list[str] | None = None,
    sandbox: Sandbox = NO_SANDBOX,
) -> None:
    final = envs_dir / key
    staging = envs_dir / ".tmp"
    staging.mkdir(parents=True, exist_ok=True)
    for stale in staging.glob(f"{key}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists():
        logger.info("removing incomplete environment %s", final)
        shutil.rmtree(final)
    temp = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=staging))
    temp.chmod(0o755)
    steps = _Steps(sandbox, envs_dir / ".uv-cache", interpreter, pip, shared)
    try:
        sandbox.give(temp)
        _install(config, model_dir, temp, interpreter, pip, log, shared, steps)
        os.rename(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    try:
        _run_build_commands(config, final, log, steps)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        sandbox.reclaim(final)  # built: no sandboxed program may change it any more


def _install(
    config: CogConfig,
    model_dir: Path,
    venv: Path,
    interpreter: Interpreter,
    pip: UvPipArgs,
    log: LogFn,
    shared: list[str] | None = None,
    steps: _Steps | None = None,
) -> None:
    steps = steps or _Steps(NO_SANDBOX, None, interpreter, pip, shared)
    uv = uv_bin()
    env = steps.uv_environment()
    log(f"Creating a Python {interpreter.version} environment")
    venv_argv: list[str | os.PathLike[str]] = [uv, "venv", "--no-config", "--relocatable"]
    venv_argv += ["--python", interpreter.path, venv]
    if config.build_run:
        venv_argv.append("--seed")  # build.run commands commonly call pip
    if shared is not None:
        venv_argv.append("--system-site-packages")
    _check(steps.run(venv_argv, venv, log=log, env=env), "Creating the virtualenv failed")
    if shared:
        _share_site_dirs(venv, shared, log)
    python = venv / "bin" / "python"
    base: list[str | os.PathLike[str]] = [uv, "pip", "install", "--no-config", "--python", python]
    # Instances mount the environment read-only, so Python cannot cache bytecode there: without
    # it every boot compiled cog, coglet and their imports, twice (server and worker), ~0.2 s.
    base += ["--compile-bytecode", *pip.args]
    log(f"Installing cog=={COG_VERSION} and coglet=={COGLET_VERSION}")
    result = steps.run(
        [*base, f"cog=={COG_VERSION}", f"coglet=={COGLET_VERSION}"],
        venv,
        log=log,
        env=env,
        cwd=model_dir,
    )
    _check(result, f"Installing cog {COG_VERSION} and coglet {COGLET_VERSION} failed")
    if not config.requirements.strip():
        return
    log("Installing the model's Python requirements")
    # Beside the environment (which a sandboxed install sees), removed once installed.
    requirements = venv / ".modelyard-requirements.txt"
    requirements.write_text(config.requirements)
    try:
        # cwd = model dir: uv reads relative wheel paths in requirements from the cwd, as pip.
        result = steps.run(
            [*base, "--requirement", requirements], venv, log=log, env=env, cwd=model_dir
        )
    finally:
        requirements.unlink(missing_ok=True)
    if not result.ok:
        raise BuildError(
            f"Installing the model's Python requirements failed: {_uv_reason(result)}",
            logs=result.tail_text(),
        )


def _share_site_dirs(venv: Path, dirs: list[str], log: LogFn) -> None:
    """Append the platform's site-packages folders to the environment's `sys.path`."""
    site = next((venv / "lib").glob("python*/site-packages"), None)
    if site is None:
        raise BuildError("The new virtualenv has no site-packages folder.")
    (site / SYSTEM_SITE_PTH).write_text("".join(f"{d}\n" for d in dirs))
    log(f"Sharing the platform's Python packages from {', '.join(dirs)}")


def _run_build_commands(
    config: CogConfig, venv: Path, log: LogFn, steps: _Steps | None = None
) -> None:
    if not config.build_run:
        return
    steps = steps or _Steps(NO_SANDBOX, None, None, UvPipArgs(), None)
    env = steps.build_run_environment(config, venv)
    bash = shutil.which("bash") or "/bin/bash"
    for number, command in enumerate(config.build_run, start=1):
        log(f"Running build.run command {number} of {len(config.build_run)}")
        # The project source is not available to build.run (as in cog), hence a scratch cwd.
        with tempfile.TemporaryDirectory(prefix="modelyard-build-run-") as scratch:
            steps.sandbox.give(Path(scratch))
            result = steps.run([bash, "-c", command], venv, log=log, env=env, scratch=Path(scratch))
        if not result.ok:
            status = "timed out" if result.timed_out else f"exited with code {result.returncode}"
            raise BuildError(
                f"build.run command {number} {status}; see the build logs.",
                logs=result.tail_text(),
            )


@dataclass(frozen=True)
class _Steps:
    """How this build runs its steps: sandboxed or not, with what it may see."""

    sandbox: Sandbox
    uv_cache: Path | None  # shared by builds; owned by the sandbox user when sandboxed
    interpreter: Interpreter | None
    pip: UvPipArgs
    shared: list[str] | None

    def uv_environment(self) -> dict[str, str]:
        extra = {**self.pip.env, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
        if self.sandbox.enabled and self.uv_cache is not None:
            # The cache and the environment are separate mounts there: no hard links across.
            extra.update(UV_CACHE_DIR=str(self.uv_cache), UV_LINK_MODE="copy")
        env = build_environment(self.sandbox, extra)
        env.pop("VIRTUAL_ENV", None)
        return env

    def build_run_environment(self, config: CogConfig, venv: Path) -> dict[str, str]:
        # Sandboxed, pip cannot read the host's pip.conf: its sources come as PIP_* variables.
        extra = pip_env(self.pip) if self.sandbox.enabled else {}
        env = build_environment(self.sandbox, {**extra, **config.environment})
        env.update(
            VIRTUAL_ENV=str(venv),
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            PIP_PYTHON=str(venv / "bin" / "python"),
        )
        env.pop("PYTHONPATH", None)
        return env

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        venv: Path,
        *,
        log: LogFn,
        env: dict[str, str],
        cwd: Path | None = None,
        scratch: Path | None = None,
    ) -> ProcessResult:
        """Run one step with `venv` writable; `scratch` becomes its cwd (and /tmp)."""
        wrapped = self._wrap(argv, venv, cwd, scratch) if self.sandbox.enabled else argv
        return run_streamed(
            wrapped, log=log, env=env, cwd=cwd or scratch, timeout=INSTALL_TIMEOUT_S
        )

    def _wrap(
        self,
        argv: Sequence[str | os.PathLike[str]],
        venv: Path,
        cwd: Path | None,
        scratch: Path | None,
    ) -> list[str]:
        writable = [venv]
        if self.uv_cache is not None:
            self.uv_cache.mkdir(parents=True, exist_ok=True)
            self.sandbox.give(self.uv_cache)
            writable.append(self.uv_cache)
        read_only = [Path(uv_bin()), *local_paths(self.pip), *map(Path, self.shared or [])]
        if self.interpreter is not None:
            read_only += installation(self.interpreter.path)
        if cwd is not None:
            read_only.append(cwd)
        return self.sandbox.wrap(
            argv,
            mounts=Mounts(read_only=tuple(read_only), writable=tuple(writable), tmp=scratch),
            cwd=cwd or (SANDBOX_TMP if scratch else None),
            network=True,  # packages and build.run download
        )


def _check(result: ProcessResult, what: str) -> None:
    if not result.ok:
        raise BuildError(f"{what}: {_uv_reason(result)}", logs=result.tail_text())


def _uv_reason(result: ProcessResult) -> str:
    """uv's own account of why it failed: its `error:`/`cause:` (or `×`/`╰─▶`) lines."""
    if result.timed_out:
        return "it timed out"
    reasons: list[str] = []
    for line in result.tail:
        text = line.strip()
        if not reasons and not text.startswith(("error:", "×")):
            continue
        for prefix in ("error:", "cause:", "hint:", "×", "╰─▶", "├─▶", "│"):
            text = text.removeprefix(prefix).strip()
        if text:
            reasons.append(text)
    summary = ": ".join(reasons) or f"exit code {result.returncode}"
    return summary if len(summary) <= 600 else summary[:597] + "..."


def _complete_env(
    final: Path, key: str, config: CogConfig, interpreter: Interpreter
) -> VersionEnv | None:
    python = final / "bin" / "python"
    try:
        marker = json.loads((final / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if marker.get("key") != key or not python.exists():
        return None
    return VersionEnv(
        key=key,
        venv_dir=final,
        python_executable=python,
        python_requested=config.python_version,
        python_actual=str(marker.get("python", interpreter.version)),
        cog_version=str(marker.get("cog", COG_VERSION)),
        coglet_version=str(marker.get("coglet", COGLET_VERSION)),
        reused=True,
    )


def _write_marker(final: Path, key: str, interpreter: Interpreter, seconds: float) -> None:
    marker = {
        "key": key,
        "python": interpreter.version,
        "cog": COG_VERSION,
        "coglet": COGLET_VERSION,
        "build_seconds": round(seconds, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = final / f".{MARKER}.partial"
    partial.write_text(json.dumps(marker, indent=2))
    os.replace(partial, final / MARKER)


@contextlib.contextmanager
def _key_lock(envs_dir: Path, key: str) -> Iterator[None]:
    locks = envs_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    # flock belongs to the open file, so two threads of one process exclude each other too.
    with open(locks / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _content_hash(path: Path) -> str:
    if path.is_dir():
        return bundle_digest(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _constraint_hashes(pip: UvPipArgs) -> dict[str, str]:
    args = list(pip.args)
    paths = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--constraint"]
    return {path: _content_hash(Path(path)) for path in paths if Path(path).is_file()}


def _system_package_present(name: str) -> bool:
    package = name.split("=", 1)[0].strip()
    if not _SYSTEM_PACKAGE.match(package):
        return False
    if shutil.which("dpkg-query"):
        result = run_quiet(["dpkg-query", "-W", "-f=${Status}", package], timeout=30)
        return result.ok and any("install ok installed" in line for line in result.tail)
    return shutil.which(package) is not None
