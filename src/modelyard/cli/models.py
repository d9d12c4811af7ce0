"""`modelyard models`: register Cog directories (`import`) and list the models a token sees."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console

from modelyard.cli._client import check, client, fail, request
from modelyard.cli.push import push_directory

console = Console(soft_wrap=True)
app = typer.Typer(help="Import Cog model directories and list models.", no_args_is_help=True)

_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")


@app.command("import")
def import_model(
    directory: Path = typer.Argument(..., help="A Cog model directory (cog.yaml + predictor)."),
    model: str = typer.Argument(
        None, help="OWNER/NAME to register it as [default: <your account>/<directory name>]."
    ),
    weights: str = typer.Option(
        None,
        "--weights",
        help="Local path or URL of the weights; the model's setup(weights) receives it.",
    ),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL, default local]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
    public: bool = typer.Option(
        False, "--public", help="Create the model as public (default private)."
    ),
) -> None:
    """Register DIR on the platform as OWNER/NAME: a shorthand for `push`.

    Example: modelyard models import models/recipes/sdxl --weights /data/sdxl
    """
    if not directory.is_dir():
        fail(f"{directory} is not a directory.")
    if model is None:
        model = f"{_account(url, token)}/{default_name(directory)}"
    push_directory(
        directory, model, url=url, token=token, public=public, weights=resolve_weights(weights)
    )


@app.command("list")
def list_models(
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL, default local]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
) -> None:
    """List the models this token can see, with their latest version."""
    with client(url, token) as http:
        path: str | None = "/v1/models"
        while path:
            page = check(request(http.get, path))
            for item in page["results"]:
                latest = item.get("latest_version") or {}
                version = latest.get("id", "")[:12] or "(building)"
                line = f"{item['owner']}/{item['name']}  {version}  {item.get('description') or ''}"
                console.print(line.rstrip(), highlight=False, markup=False)
            path = page.get("next")


def default_name(directory: Path) -> str:
    """A model name from a directory name: lowercase, other characters as '-'."""
    name = _NOT_NAME.sub("-", directory.resolve().name.lower()).strip("-._")
    if not name:
        fail("Cannot make a model name from this directory's name; give OWNER/NAME.")
    return name


def resolve_weights(weights: str | None) -> str | None:
    """A URL as given; a local path made absolute (the model runs in another directory)."""
    if weights is None or not weights.strip():
        return None
    weights = weights.strip()
    if "://" in weights:
        return weights
    path = Path(weights).expanduser().resolve()
    if not path.exists():
        console.print(
            f"[yellow]Warning:[/] {path} does not exist here; the platform's machine must have it.",
            highlight=False,
        )
    return str(path)


def _account(url: str | None, token: str | None) -> str:
    with client(url, token) as http:
        return str(check(request(http.get, "/v1/account"))["username"])
