"""`modelyard deployments`: create, list, change and delete deployments on a server."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from modelyard.cli._client import check, client, fail, request

app = typer.Typer(help="Deployments: a model version on chosen hardware, autoscaled.")
# Piped output keeps whole ids and names rather than the 80 columns Rich assumes.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)

URL = typer.Option(None, "--url", help="Server URL [MODELYARD_URL].")
TOKEN = typer.Option(None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN].")
JSON = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Name of the deployment (under your account)."),
    model: str = typer.Option(..., "--model", "-m", help="OWNER/NAME of the model to run."),
    version: str | None = typer.Option(
        None, "--version", "-v", help="Version id [default: the model's latest version]."
    ),
    hardware: str = typer.Option("cpu", "--hardware", help="Hardware SKU (see /v1/hardware)."),
    min_instances: int = typer.Option(0, "--min-instances", "--min", help="Instances kept warm."),
    max_instances: int = typer.Option(1, "--max-instances", "--max", help="Most instances."),
    url: str = URL,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Create a deployment of MODEL (its latest version unless --version is given)."""
    with client(url, token) as http:
        if not version:
            found = check(request(http.get, f"/v1/models/{model}"))
            version = ((found or {}).get("latest_version") or {}).get("id")
            if not version:
                fail(f"The model {model} has no version yet; push one first.")
        body = {
            "name": name,
            "model": model,
            "version": version,
            "hardware": hardware,
            "min_instances": min_instances,
            "max_instances": max_instances,
        }
        deployment = check(request(http.post, "/v1/deployments", json=body))
    _show([deployment], as_json, single=True)


@app.command("list")
def list_(url: str = URL, token: str = TOKEN, as_json: bool = JSON) -> None:
    """List your deployments, newest first."""
    results: list[dict[str, Any]] = []
    with client(url, token) as http:
        page: dict[str, Any] | None = check(request(http.get, "/v1/deployments"))
        while page is not None:
            results += page["results"]
            page = check(request(http.get, page["next"])) if page.get("next") else None
    _show(results, as_json)


@app.command("get")
def get(
    name: str = typer.Argument(..., help="OWNER/NAME of the deployment."),
    url: str = URL,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Show one deployment."""
    with client(url, token) as http:
        deployment = check(request(http.get, f"/v1/deployments/{_ref(name)}"))
    _show([deployment], as_json, single=True)


@app.command("update")
def update(
    name: str = typer.Argument(..., help="OWNER/NAME of the deployment."),
    version: str = typer.Option(None, "--version", "-v", help="New version id."),
    hardware: str = typer.Option(None, "--hardware", help="New hardware SKU."),
    min_instances: int = typer.Option(None, "--min-instances", "--min", help="Instances warm."),
    max_instances: int = typer.Option(None, "--max-instances", "--max", help="Most instances."),
    url: str = URL,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change a deployment: each change makes a new release."""
    changes = {
        k: v
        for k, v in dict(
            version=version,
            hardware=hardware,
            min_instances=min_instances,
            max_instances=max_instances,
        ).items()
        if v is not None
    }
    if not changes:
        fail("Nothing to change: give --version, --hardware, --min-instances or --max-instances.")
    with client(url, token) as http:
        deployment = check(request(http.patch, f"/v1/deployments/{_ref(name)}", json=changes))
    _show([deployment], as_json, single=True)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="OWNER/NAME of the deployment."),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Delete a deployment; its instances finish what they run, then stop."""
    with client(url, token) as http:
        check(request(http.delete, f"/v1/deployments/{_ref(name)}"))
    out.print(f"Deleted deployment {_ref(name)}.", highlight=False)


def _ref(name: str) -> str:
    if name.count("/") != 1:
        fail("Name the deployment as OWNER/NAME.")
    return name


def _show(deployments: list[dict[str, Any]], as_json: bool, single: bool = False) -> None:
    if as_json:
        print(json.dumps(deployments[0] if single else deployments, indent=2))
        return
    table = Table("deployment", "release", "model", "version", "hardware", "min", "max")
    for d in deployments:
        release = d.get("current_release") or {}
        config = release.get("configuration") or {}
        table.add_row(
            f"{d['owner']}/{d['name']}",
            str(release.get("number", "")),
            release.get("model", ""),
            (release.get("version") or "")[:12],
            config.get("hardware", ""),
            str(config.get("min_instances", "")),
            str(config.get("max_instances", "")),
        )
    if not deployments:
        out.print("No deployments.")
        return
    out.print(table)
