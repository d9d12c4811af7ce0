"""`modelyard run`: run a prediction, print its output, save output files here."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import typer
from rich.console import Console

from modelyard.cli._client import check, client, console, fail, request
from modelyard.cli._inputs import InputError, InputSchema, json_input

out = Console(soft_wrap=True)
TERMINAL = ("succeeded", "failed", "canceled")


def run(
    ref: str = typer.Argument(..., help="OWNER/NAME or OWNER/NAME:VERSION."),
    inputs: list[str] = typer.Option(
        [], "-i", "--input", help="key=value; key=@file for a file; repeat a key for a list."
    ),
    json_text: str = typer.Option(
        None, "--json", help="The whole input as a JSON object, or @file.json."
    ),
    output_json: bool = typer.Option(
        False, "--output-json", help="Print the final prediction as JSON (for scripts)."
    ),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(
        None, "--token", help="API token [MODELYARD_TOKEN, REPLICATE_API_TOKEN]."
    ),
    output_dir: Path = typer.Option(
        Path("."), "--output-dir", "-o", help="Where output files are saved."
    ),
) -> None:
    """Run OWNER/NAME[:VERSION] with the given inputs."""
    model, _, version = ref.partition(":")
    if model.count("/") != 1:
        fail("The model must be given as OWNER/NAME or OWNER/NAME:VERSION.")
    with client(url, token, timeout=120) as http:
        schema = InputSchema(_openapi_schema(http, model, version))
        try:
            given = schema.with_files(json_input(json_text)) if json_text else {}
            payload = {"input": {**given, **schema.parse(inputs)}}
        except InputError as exc:
            fail(str(exc))
        if version:
            resp = request(
                http.post,
                "/v1/predictions",
                json={**payload, "version": version},
                headers={"Prefer": "wait=5"},
            )
        else:
            resp = request(
                http.post,
                f"/v1/models/{model}/predictions",
                json=payload,
                headers={"Prefer": "wait=5"},
            )
        prediction = check(resp)
        streamed = False
        stream_url = prediction.get("urls", {}).get("stream")
        if stream_url and prediction["status"] not in TERMINAL and not output_json:
            streamed = _stream(http, stream_url)
        prediction = _wait(http, prediction)
    if output_json:
        _save_files(prediction.get("output"), output_dir)
        out.print_json(json.dumps(prediction))
        if prediction["status"] != "succeeded":
            raise typer.Exit(1)
        return
    _report(prediction, output_dir, streamed)


def _openapi_schema(http: httpx.Client, model: str, version: str) -> dict[str, Any] | None:
    """The version's OpenAPI schema; for a model still building, the schema is not known
    yet and the inputs go as given (the server checks them once the version is built)."""
    if version:
        data = check(request(http.get, f"/v1/models/{model}/versions/{version}"))
    else:
        data = (check(request(http.get, f"/v1/models/{model}")) or {}).get("latest_version")
    if data is None:
        return None
    schema: dict[str, Any] = data.get("openapi_schema") or {}
    return schema


def _stream(http: httpx.Client, stream_url: str) -> bool:
    """Print tokens as they arrive; True if the output was printed."""
    printed = False
    event = ""
    with httpx.Client(timeout=None) as anon:
        with anon.stream("GET", stream_url, headers={"Accept": "text/event-stream"}) as resp:
            data: list[str] = []
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                elif line == "":
                    if event == "output":
                        out.print(
                            "\n".join(data), end="", markup=False, highlight=False, soft_wrap=True
                        )
                        sys.stdout.flush()
                        printed = True
                    elif event == "done":
                        break
                    data, event = [], ""
    if printed:
        out.print()
    return printed


def _wait(http: httpx.Client, prediction: dict[str, Any]) -> dict[str, Any]:
    with console.status(f"Prediction {prediction['id']}: {prediction['status']}") as status:
        while prediction["status"] not in TERMINAL:
            time.sleep(0.25)
            prediction = check(request(http.get, f"/v1/predictions/{prediction['id']}"))
            status.update(f"Prediction {prediction['id']}: {prediction['status']}")
    return prediction


def _report(prediction: dict[str, Any], output_dir: Path, streamed: bool) -> None:
    if prediction["status"] == "failed":
        if prediction.get("logs"):
            console.print(prediction["logs"], markup=False, highlight=False)
        fail(f"The prediction failed: {prediction.get('error')}")
    if prediction["status"] == "canceled":
        fail("The prediction was canceled.")
    output = _save_files(prediction["output"], output_dir)
    if not streamed:
        if isinstance(output, str):
            out.print(output, markup=False, highlight=False)
        elif isinstance(output, list) and all(isinstance(o, str) for o in output):
            out.print("".join(output), markup=False, highlight=False)
        else:
            out.print_json(json.dumps(output))


def _save_files(value: Any, output_dir: Path, stem: str = "output") -> Any:
    """Download output file URLs into output_dir under Cog's names (`output.<ext>` for one
    file, `output.<i>.<ext>` for a list's); returns the output with local paths."""
    if isinstance(value, list):
        return [_save_files(v, output_dir, f"{stem}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _save_files(v, output_dir, f"{stem}.{k}") for k, v in value.items()}
    if isinstance(value, str) and "/v1/deliveries/" in value:
        name = unquote(urlsplit(value).path.rsplit("/", 1)[-1])
        target = output_dir / (stem + Path(name).suffix)
        with httpx.Client(timeout=300) as anon:
            resp = anon.get(value)
        if resp.status_code != 200:
            fail(f"Could not download the output file {name} (HTTP {resp.status_code}).")
        output_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resp.content)
        console.print(f"Saved {target}", highlight=False)
        return str(target)
    return value
