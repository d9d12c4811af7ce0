"""Derive a version's OpenAPI schema: `_schema_gen.py` in the version's venv, then `openapi.py`."""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import anyio.to_thread

from modelyard.builder._procs import LogFn, run_streamed
from modelyard.builder.config import CogConfig
from modelyard.builder.openapi import Fragments, openapi_document
from modelyard.core.errors import BuildError
from modelyard.sandbox import (
    NO_SANDBOX,
    SANDBOX_SOURCE,
    SANDBOX_TMP,
    Mounts,
    Sandbox,
    clean_environment,
    environment_paths,
)

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(".cog") / "openapi_schema.json"
GENERATOR = Path(__file__).with_name("_schema_gen.py")
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SchemaResult:
    """The generated document plus what only inspection of the code can tell."""

    schema: dict[str, Any]
    is_async: bool
    concurrency_max: int | None
    warnings: tuple[str, ...] = field(default=())


async def generate_schema(
    model_dir: Path,
    python: Path,
    config: CogConfig,
    *,
    log: LogFn,
    sandbox: Sandbox = NO_SANDBOX,
) -> SchemaResult:
    """Async form of `generate_schema_sync` (worker thread; `log` called on the loop)."""

    def log_on_loop(line: str) -> None:
        anyio.from_thread.run_sync(log, line)

    work = functools.partial(
        generate_schema_sync, model_dir, python, config, log=log_on_loop, sandbox=sandbox
    )
    return await anyio.to_thread.run_sync(work)


def generate_schema_sync(
    model_dir: Path,
    python: Path,
    config: CogConfig,
    *,
    log: LogFn,
    sandbox: Sandbox = NO_SANDBOX,
) -> SchemaResult:
    """Inspect the predictor with `python` (cwd = `model_dir`) and build its OpenAPI document.

    Importing the predictor runs the model author's code: under `sandbox` it runs with no
    network, a clean environment, the model directory read-only at /src and the environment
    read-only, as the sandbox user.

    Writes `<model_dir>/.cog/openapi_schema.json`, where coglet reads it. Raises
    `BuildError` when the predictor cannot be imported or its signature is not one cog
    accepts; the detail names the exception, `logs` holds the traceback tail.
    """
    venv = python.parent.parent
    base = clean_environment({}) if sandbox.enabled else dict(os.environ)
    env = {
        **base,
        **config.environment,
        "PATH": f"{python.parent}{os.pathsep}{base.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    with tempfile.TemporaryDirectory(prefix="modelyard-schema-") as scratch:
        sandbox.give(Path(scratch))
        out_dir = SANDBOX_TMP if sandbox.enabled else Path(scratch)
        argv: list[str | os.PathLike[str]] = [python, "-c", GENERATOR.read_text()]
        argv += ["--out", out_dir / "result.json", "--predict", config.predict_ref]
        if config.train_ref:
            argv += ["--train", config.train_ref]
        if sandbox.enabled:
            mounts = Mounts(
                read_only=(venv, *environment_paths(venv)),
                tmp=Path(scratch),
                placed=((model_dir, SANDBOX_SOURCE),),
            )
            argv = list(sandbox.wrap(argv, mounts=mounts, cwd=SANDBOX_SOURCE, network=False))
        log("Generating the OpenAPI schema")
        # `python -c` with cwd = model dir puts the model dir first on sys.path, as coglet does.
        result = run_streamed(argv, log=log, env=env, cwd=model_dir, timeout=TIMEOUT_S)
        out = Path(scratch) / "result.json"
        try:
            outcome = json.loads(out.read_text())
        except (OSError, ValueError):
            outcome = None
    if outcome is None or not outcome.get("ok"):
        raise _failure(outcome, result.tail_text(), result.timed_out)
    for note in outcome.get("warnings", []):
        log(f"warning: {note}")
    train = outcome.get("train")
    schema = openapi_document(
        Fragments(**outcome["predict"]),
        Fragments(**train) if train else None,
        cog_version=str(outcome.get("cog_version", "")),
    )
    target = model_dir / SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schema, indent=2) + "\n")
    return SchemaResult(
        schema=schema,
        is_async=bool(outcome.get("is_async")),
        concurrency_max=outcome.get("concurrency_max"),
        warnings=tuple(outcome.get("warnings", [])),
    )


def _failure(outcome: dict[str, Any] | None, logs: str, timed_out: bool) -> BuildError:
    if timed_out:
        return BuildError(
            f"Importing the predictor took longer than {TIMEOUT_S:.0f}s; move slow work "
            "(downloads, model loading) from import time into setup().",
            logs=logs,
        )
    if outcome is None:
        return BuildError("The schema generator crashed; see the build logs.", logs=logs)
    kind, error = outcome.get("kind"), _short(str(outcome.get("error", "unknown error")))
    if kind == "import":
        return BuildError(f"The predictor could not be imported: {error}", logs=logs)
    if kind == "ref":
        return BuildError(
            f"The predictor named in cog.yaml was not found: {error}. Check `run:`/`train:`.",
            logs=logs,
        )
    return BuildError(f"The predictor's inputs or output are not valid for cog: {error}", logs=logs)


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
