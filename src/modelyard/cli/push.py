"""`modelyard push`: upload a Cog directory and build it into a version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import httpx
import typer
from rich.console import Console

from modelyard.builder import load_cog_config, pack_bundle
from modelyard.cli._client import check, client, fail, request
from modelyard.core.errors import BuildError

console = Console(soft_wrap=True)


def push(
    directory: Path = typer.Argument(..., help="A Cog model directory (cog.yaml + predictor)."),
    model: str = typer.Argument(..., help="OWNER/NAME of the model to push to."),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
    public: bool = typer.Option(
        False, "--public", help="Create the model as public (default private)."
    ),
) -> None:
    """Push DIR as a new version of OWNER/NAME, creating the model if needed."""
    push_directory(directory, model, url=url, token=token, public=public)


def push_directory(
    directory: Path,
    model: str,
    *,
    url: str | None,
    token: str | None,
    public: bool = False,
    weights: str | None = None,
) -> dict[str, Any]:
    """Create OWNER/NAME if missing, upload DIR, stream the build log; returns the version."""
    owner, _, name = model.partition("/")
    if not owner or not name or "/" in name:
        fail("The model must be given as OWNER/NAME, e.g. admin/hello-world.")
    if not directory.is_dir():
        fail(f"{directory} is not a directory.")
    try:
        load_cog_config(directory)
    except BuildError as exc:
        fail(exc.detail)
    bundle = pack_bundle(directory)
    console.print(f"Packed {directory} ({len(bundle) / 1024:.1f} KiB)", highlight=False)
    with client(url, token, timeout=3600) as http:
        found = request(http.get, f"/v1/models/{owner}/{name}")
        if found.status_code == 404:
            body = {
                "owner": owner,
                "name": name,
                "visibility": "public" if public else "private",
                "hardware": "cpu",
            }
            check(request(http.post, "/v1/models", json=body))
            console.print(f"Created model {owner}/{name} ({body['visibility']})", highlight=False)
        else:
            check(found)
        version = _upload(http, owner, name, bundle, weights)
    console.print(
        f"\n[bold green]Pushed[/] {owner}/{name}:{version['id']}", highlight=False, soft_wrap=True
    )
    python = version.get("python_version")
    requested = version.get("python_requested")
    if requested and python and not python.startswith(requested):
        console.print(f"[yellow]Python {requested} was requested; the version runs on {python}.[/]")
    return version


def _upload(
    http: httpx.Client, owner: str, name: str, bundle: bytes, weights: str | None
) -> dict[str, Any]:
    headers = {"Content-Type": "application/gzip", "Accept": "application/x-ndjson"}
    params = {"weights": weights} if weights else None
    tail: list[str] = []
    with console.status("Building…") as status:
        with http.stream(
            "POST",
            f"/v1/models/{owner}/{name}/versions",
            content=bundle,
            headers=headers,
            params=params,
        ) as resp:
            if resp.status_code >= 400:
                resp.read()
                check(resp)
            for raw in resp.iter_lines():
                if not raw.strip():
                    continue
                item = json.loads(raw)
                if item["type"] == "log":
                    tail = (tail + [item["line"]])[-30:]
                    console.print(item["line"], style="dim", highlight=False, markup=False)
                    status.update(f"Building… {item['line'][:60]}")
                elif item["type"] == "version":
                    return cast(dict[str, Any], item["version"])
                elif item["type"] == "error":
                    logs = item.get("logs") or ""
                    if logs:
                        console.print("\n[bold]Build log (last lines):[/]")
                        console.print(logs, markup=False, highlight=False)
                    fail(item.get("detail") or "The build failed.")
    fail("The server closed the connection before the build finished.")
