"""`modelyard api` and `modelyard worker`: the two kinds of process of cluster mode.

Both read their backends from MODELYARD_DATABASE_URL, MODELYARD_REDIS_URL and
MODELYARD_STORAGE_URL and need the same MODELYARD_SECRET_KEY; see docs/cluster.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelyard.cli.serve import console, run_server
from modelyard.settings import Settings


def api(
    host: str = typer.Option(
        None, help="Address to listen on [MODELYARD_HOST, default 127.0.0.1]."
    ),
    port: int = typer.Option(None, help="Port [MODELYARD_PORT, default 8000]."),
    data_dir: Path = typer.Option(
        None, help="Data directory for temporary files [MODELYARD_DATA_DIR]."
    ),
    public_url: str = typer.Option(
        None, help="Base URL clients reach the cluster at [MODELYARD_PUBLIC_URL]."
    ),
) -> None:
    """Start a stateless API replica: every route, no model processes (cluster mode)."""
    run_server(_settings(host=host, port=port, data_dir=data_dir, public_url=public_url), "api")


def worker(
    name: str = typer.Option(
        None, help="Name in the worker registry [MODELYARD_WORKER_NAME, default host-pid]."
    ),
    port: int = typer.Option(
        None, help="Loopback port its model instances upload to [MODELYARD_PORT, default 8000]."
    ),
    data_dir: Path = typer.Option(
        None, help="Its own cache of versions and temporary files [MODELYARD_DATA_DIR]."
    ),
    hardware: str = typer.Option(
        None, help="Declared GPU inventory, e.g. gpu-t4=2 [MODELYARD_HARDWARE]."
    ),
    capacity: int = typer.Option(
        None, help="Model instances it runs at once [MODELYARD_WORKER_CAPACITY, default: CPUs]."
    ),
) -> None:
    """Start a worker agent: runs the model instances of the queues it can place (cluster mode).

    It listens on loopback only, for its own model instances; SIGTERM drains it (no new work,
    running predictions finish within MODELYARD_SHUTDOWN_GRACE seconds) and it exits 0.
    """
    settings = _settings(
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        hardware=hardware,
        worker_name=name,
        worker_capacity=capacity,
    )
    run_server(settings, "worker")


def _settings(**given: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(2) from exc
