"""`modelyard train`: train a version into a destination model, follow it, print the version."""

from __future__ import annotations

import time
from typing import Any

import httpx
import typer
from rich.console import Console

from modelyard.cli._client import check, client, console, fail, request
from modelyard.cli._inputs import InputError, InputSchema

out = Console(soft_wrap=True)
TERMINAL = ("succeeded", "failed", "canceled")


def train(
    ref: str = typer.Argument(..., help="OWNER/NAME or OWNER/NAME:VERSION to train."),
    destination: str = typer.Option(
        ..., "--destination", "-d", help="OWNER/NAME of the model the weights become a version of."
    ),
    inputs: list[str] = typer.Option(
        [], "-i", "--input", help="key=value; key=@file for a file; repeat a key for a list."
    ),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
) -> None:
    """Train OWNER/NAME[:VERSION] with the given inputs; prints the new version of DESTINATION.

    Its logs are shown as they come; Ctrl-C cancels the training.
    """
    model, _, version = ref.partition(":")
    if model.count("/") != 1:
        fail("The model must be given as OWNER/NAME or OWNER/NAME:VERSION.")
    with client(url, token, timeout=120) as http:
        data = _version(http, model, version)
        schema = InputSchema(_training_openapi(data.get("openapi_schema") or {}))
        try:
            payload = {"input": schema.parse(inputs), "destination": destination}
        except InputError as exc:
            fail(str(exc))
        path = f"/v1/models/{model}/versions/{data['id']}/trainings"
        training = check(request(http.post, path, json=payload))
        console.print(f"Training {training['id']} of {model}:{data['id'][:12]} into {destination}")
        try:
            training = _follow(http, training)
        except KeyboardInterrupt:
            console.print("Canceling the training...")
            training = check(request(http.post, f"/v1/trainings/{training['id']}/cancel"))
    if training["status"] == "failed":
        fail(f"The training failed: {training.get('error')}")
    if training["status"] == "canceled":
        fail("The training was canceled; no version was made.")
    out.print(training["output"]["version"], markup=False, highlight=False)


def _version(http: httpx.Client, model: str, version: str) -> dict[str, Any]:
    """The version to train: the one named, or the model's latest."""
    if version:
        found: dict[str, Any] = check(request(http.get, f"/v1/models/{model}/versions/{version}"))
        return found
    latest = (check(request(http.get, f"/v1/models/{model}")) or {}).get("latest_version")
    if not latest:
        fail(f"The model {model} has no version to train yet.")
    return dict(latest)


def _training_openapi(openapi: dict[str, Any]) -> dict[str, Any]:
    """The schema with `TrainingInput` where the input parser looks for `Input`."""
    schemas = dict(openapi.get("components", {}).get("schemas", {}))
    if "TrainingInput" not in schemas:
        fail("This version cannot be trained: its cog.yaml has no `train:` entry.")
    schemas["Input"] = schemas["TrainingInput"]
    return {"components": {"schemas": schemas}}


def _follow(http: httpx.Client, training: dict[str, Any]) -> dict[str, Any]:
    """Poll the training, printing its new log lines, under a status line with the time."""
    began = time.monotonic()
    shown = 0
    with console.status("") as status:
        while True:
            logs = training.get("logs") or ""
            if len(logs) > shown:
                console.print(logs[shown:].rstrip("\n"), markup=False, highlight=False)
                shown = len(logs)
            elapsed = time.monotonic() - began
            status.update(f"Training {training['id']}: {training['status']} ({elapsed:.0f} s)")
            if training["status"] in TERMINAL:
                return training
            time.sleep(0.5)
            training = check(request(http.get, f"/v1/trainings/{training['id']}"))
