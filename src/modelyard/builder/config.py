"""Parse a model's `cog.yaml` into a `CogConfig`, with the checks `cog build` makes."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from modelyard.core.errors import BuildError
from modelyard.core.openai_mapping import parse_block

logger = logging.getLogger(__name__)

CONFIG_FILE = "cog.yaml"

# cog refuses these in `environment:` because the runtime owns them (pkg/config/env_variables.go).
_DENIED_NAMES = frozenset(
    {
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "PYTHONUNBUFFERED",
        "LIBRARY_PATH",
        "HF_ENDPOINT",
        "HF_HUB_ENABLE_HF_TRANSFER",
        # Ours: the platform sets it from the weights a version was pushed with.
        "COG_WEIGHTS",
    }
)
_DENIED_PREFIXES = ("R8_", "REPLICATE_", "CUDA_", "NVIDIA_", "NV_", "PGET_", "KUBERNETES_")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PYTHON_VERSION = re.compile(r"^3\.\d{1,2}(\.\d{1,2})?$")
_LOCAL_ARCHIVE = re.compile(r"\.(whl|tar\.gz|tgz|zip)$")
_PATH_OPTIONS = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable"})


@dataclass(frozen=True)
class CogConfig:
    """The parts of `cog.yaml` the platform uses; unknown keys are dropped.

    `requirements` is the text uv installs (the `python_requirements` file's content, or the
    deprecated `python_packages` list one per line); `local_files` are the project files that
    text refers to, relative to the model directory.
    """

    predict_ref: str
    train_ref: str | None = None
    gpu: bool = False
    python_version: str | None = None
    python_requirements: str | None = None
    python_packages: tuple[str, ...] = ()
    requirements: str = ""
    local_files: tuple[str, ...] = ()
    system_packages: tuple[str, ...] = ()
    build_run: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    concurrency_max: int | None = None
    openai: Mapping[str, Any] | None = None  # the OpenAI-endpoint mapping (docs/openai.md)

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as a JSON-able dict (cog's `run.cog.config` label)."""
        build: dict[str, Any] = {"gpu": self.gpu}
        if self.python_version is not None:
            build["python_version"] = self.python_version
        if self.python_requirements is not None:
            build["python_requirements"] = self.python_requirements
        if self.python_packages:
            build["python_packages"] = list(self.python_packages)
        if self.system_packages:
            build["system_packages"] = list(self.system_packages)
        if self.build_run:
            build["run"] = [{"command": command} for command in self.build_run]
        out: dict[str, Any] = {"build": build, "run": self.predict_ref}
        if self.train_ref is not None:
            out["train"] = self.train_ref
        if self.environment:
            out["environment"] = [f"{name}={value}" for name, value in self.environment.items()]
        if self.concurrency_max is not None:
            out["concurrency"] = {"max": self.concurrency_max}
        if self.openai is not None:
            out["openai"] = dict(self.openai)
        return out


def load_cog_config(model_dir: Path) -> CogConfig:
    """Read and check `<model_dir>/cog.yaml`.

    Raises `BuildError` for a missing or unreadable file, invalid YAML, a missing `run:`
    (or deprecated `predict:`), and any field of the wrong type; the detail names the field
    and says what to write instead, without echoing its value.
    """
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise BuildError(
            "No cog.yaml found in the model directory. Create one that names the predictor, "
            'for example: run: "predict.py:Runner"'
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BuildError("cog.yaml is not UTF-8 text; save it as UTF-8.") from exc
    except yaml.YAMLError as exc:
        raise BuildError(_yaml_problem(exc)) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BuildError("cog.yaml must be a mapping of keys such as `build:` and `run:`.")
    return _parse(raw, model_dir)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only the position and the parser's own words: the offending line may hold a secret.
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"cog.yaml is not valid YAML{where}: {problem}. Fix the file and push again."


def _parse(raw: dict[str, Any], model_dir: Path) -> CogConfig:
    build = raw.get("build") or {}
    if not isinstance(build, dict):
        raise BuildError("cog.yaml: `build` must be a mapping.")
    predict_ref = _predict_ref(raw, model_dir)
    train_ref = raw.get("train")
    if train_ref is not None:
        train_ref = _check_ref("train", train_ref, model_dir)

    requirements_path = build.get("python_requirements")
    packages = _string_list(build, "python_packages")
    if requirements_path is not None and packages:
        raise BuildError(
            "cog.yaml: `build.python_requirements` and `build.python_packages` cannot both be "
            "set; move the packages into the requirements file."
        )
    if requirements_path is not None:
        requirements = _read_requirements(requirements_path, model_dir)
    else:
        requirements = "".join(f"{package}\n" for package in packages)

    return CogConfig(
        predict_ref=predict_ref,
        train_ref=train_ref,
        gpu=_bool(build, "gpu"),
        python_version=_python_version(build.get("python_version")),
        python_requirements=requirements_path,
        python_packages=tuple(packages),
        requirements=requirements,
        local_files=_local_files(requirements, model_dir),
        system_packages=tuple(_string_list(build, "system_packages")),
        build_run=tuple(_build_run(build.get("run"))),
        environment=_environment(raw.get("environment")),
        concurrency_max=_concurrency_max(raw.get("concurrency")),
        openai=parse_block(raw.get("openai")),
    )


def _predict_ref(raw: dict[str, Any], model_dir: Path) -> str:
    run, predict = raw.get("run"), raw.get("predict")
    if run is not None and predict is not None and run != predict:
        raise BuildError("cog.yaml sets both `run` and the deprecated `predict`; keep only `run`.")
    ref = run if run is not None else predict
    if ref is None:
        raise BuildError(
            "cog.yaml has no `run:` naming the predictor. "
            'Add a line such as run: "predict.py:Runner".'
        )
    if run is None:
        logger.info("cog.yaml uses the deprecated `predict:` key; `run:` is its new name")
    return _check_ref("run" if run is not None else "predict", ref, model_dir)


def _check_ref(key: str, ref: Any, model_dir: Path) -> str:
    if not isinstance(ref, str) or not ref.strip():
        raise BuildError(f'cog.yaml: `{key}` must be a string such as "predict.py:Runner".')
    file_part = ref.split(":", 1)[0]
    if not file_part.endswith(".py"):
        raise BuildError(f'cog.yaml: `{key}` must name a .py file, as in "predict.py:Runner".')
    _inside(key, file_part, model_dir)
    if not (model_dir / file_part).is_file():
        raise BuildError(
            f"cog.yaml: `{key}` names {file_part}, which is not in the model directory."
        )
    return ref


def _inside(key: str, relative: str, model_dir: Path) -> None:
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise BuildError(f"cog.yaml: `{key}` must be a path inside the model directory.")
    resolved = (model_dir / relative).resolve()
    if not resolved.is_relative_to(model_dir.resolve()):
        raise BuildError(f"cog.yaml: `{key}` must be a path inside the model directory.")


def _read_requirements(relative: Any, model_dir: Path) -> str:
    key = "build.python_requirements"
    if not isinstance(relative, str) or not relative.strip():
        raise BuildError(f"cog.yaml: `{key}` must be the path of a requirements file.")
    _inside(key, relative, model_dir)
    path = model_dir / relative
    if not path.is_file():
        raise BuildError(
            f"cog.yaml: `{key}` names {relative}, which is not in the model directory."
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BuildError(f"{relative} is not UTF-8 text; save it as UTF-8.") from exc


def _local_files(requirements: str, model_dir: Path) -> tuple[str, ...]:
    """Project paths a requirements text installs or includes (`./dist/x.whl`, `-r more.txt`)."""
    found: list[str] = []
    for line in requirements.splitlines():
        entry = line.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        option, _, rest = entry.partition(" ")
        if option in _PATH_OPTIONS:
            candidate = rest.strip()
        elif entry.startswith("-") or "://" in entry:
            continue
        else:
            candidate = entry.split(";", 1)[0].strip()
            if not (_LOCAL_ARCHIVE.search(candidate) or candidate.startswith(("./", "../", "/"))):
                continue
        if "://" in candidate:
            continue
        _inside("build.python_requirements", candidate, model_dir)
        if not (model_dir / candidate).exists():
            raise BuildError(
                f"The requirements refer to {candidate}, which is not in the model directory."
            )
        found.append(candidate)
    return tuple(found)


def _python_version(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        # YAML reads 3.10 as the float 3.1; cog means the string "3.10".
        value = "3.10" if repr(value) == "3.1" else repr(value)
    if not isinstance(value, str) or not _PYTHON_VERSION.match(value.strip()):
        raise BuildError('cog.yaml: `build.python_version` must look like "3.11".')
    return value.strip()


def _bool(build: dict[str, Any], key: str) -> bool:
    value = build.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BuildError(f"cog.yaml: `build.{key}` must be true or false.")
    return value


def _string_list(build: dict[str, Any], key: str) -> list[str]:
    value = build.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BuildError(f"cog.yaml: `build.{key}` must be a list of strings.")
    return [item.strip() for item in value if item.strip()]


def _build_run(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BuildError("cog.yaml: `build.run` must be a list of commands.")
    commands: list[str] = []
    for item in value:
        if isinstance(item, dict):
            if item.get("mounts"):
                logger.warning("build.run mounts are not supported; running the command without")
            item = item.get("command")
        if not isinstance(item, str) or not item.strip():
            raise BuildError(
                "cog.yaml: each `build.run` entry must be a command string or {command: ...}."
            )
        commands.append(item)
    return commands


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise BuildError('cog.yaml: `environment` must be a list of "NAME=value" strings.')
    env: dict[str, str] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str) or "=" not in item:
            raise BuildError(
                f'cog.yaml: `environment` entry {index + 1} must be a "NAME=value" string.'
            )
        name, _, val = item.partition("=")
        name = name.strip()
        if not _ENV_NAME.match(name):
            raise BuildError(
                f"cog.yaml: `environment` entry {index + 1} does not start with a valid name."
            )
        if name in _DENIED_NAMES or name.startswith(_DENIED_PREFIXES):
            raise BuildError(
                f"cog.yaml: `environment` may not set {name}; the platform sets it. "
                "Remove it or rename your variable."
            )
        if name in env:
            raise BuildError(f"cog.yaml: `environment` sets {name} twice; keep one.")
        env[name] = val
    return env


def _concurrency_max(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BuildError("cog.yaml: `concurrency` must be a mapping such as {max: 4}.")
    maximum = value.get("max")
    if maximum is None:
        return None
    if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
        raise BuildError("cog.yaml: `concurrency.max` must be a whole number of at least 1.")
    return maximum
