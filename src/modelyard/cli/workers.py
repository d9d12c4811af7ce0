"""`modelyard workers`: the cluster's worker agents, their hardware, load and heartbeat."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from modelyard.cli._client import check, client, request
from modelyard.cli.instances import out


def workers(
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON instead."),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
) -> None:
    """List worker agents: state, hardware, load, instances, last heartbeat."""
    with client(url, token) as http:
        results = check(request(http.get, "/v1/workers"))["results"]
    if as_json:
        print(json.dumps(results, indent=2))
        return
    if not results:
        out.print("No workers have registered (modelyard serve runs models itself).")
        return
    table = Table("worker", "state", "hardware", "load", "instances", "last heartbeat")
    for w in results:
        table.add_row(
            w["name"],
            w["state"],
            _hardware(w),
            f"{w['load']}/{w['capacity']}",
            str(w["instances"]),
            f"{w['seconds_since_heartbeat']:.1f}s ago",
        )
    out.print(table)


def _hardware(worker: dict) -> str:  # type: ignore[type-arg]
    gpus = [f"{h['sku']}×{h['count']}" for h in worker["hardware"] if h["count"]]
    return ", ".join([f"cpu×{worker['cpus']}", *gpus])
