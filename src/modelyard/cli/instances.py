"""`modelyard instances`: the model instances a server runs, and what each is doing."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from modelyard.cli._client import check, client, request

# Piped output keeps whole ids and names rather than the 80 columns Rich assumes.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def instances(
    show_all: bool = typer.Option(False, "--all", "-a", help="Include stopped instances."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON instead."),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
) -> None:
    """List model instances: version, deployment, hardware, GPUs, state, uptime, served."""
    with client(url, token) as http:
        path = "/v1/instances?all=1" if show_all else "/v1/instances"
        results = check(request(http.get, path))["results"]
    if as_json:
        print(json.dumps(results, indent=2))
        return
    if not results:
        out.print("No model instances are running.")
        return
    table = Table(
        "instance", "worker", "model", "version", "deployment", "hardware", "gpus", "state",
        "uptime", "setup", "served",
    )  # fmt: skip
    for i in results:
        table.add_row(
            i["id"],
            i.get("worker") or "-",
            i["model"],
            i["version"][:12],
            i["deployment"] or "-",
            i["hardware"],
            ",".join(str(g) for g in i["gpu_indexes"]) or "-",
            i["state"],
            _duration(i["uptime"]),
            f"{i['setup_time']:.2f}s" if i["setup_time"] is not None else "-",
            str(i["predictions_served"]),
        )
    out.print(table)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
