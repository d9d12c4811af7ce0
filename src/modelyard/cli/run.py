"""`modelyard run`: run a prediction, print its output, save output files here."""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import typer
from rich.console import Console

from modelyard.cli._client import check, client, console, fail, request

out = Console(soft_wrap=True)
TERMINAL = ("succeeded", "failed", "canceled")


def run(
    ref: str = typer.Argument(..., help="OWNER/NAME or OWNER/NAME:VERSION."),
    inputs: list[str] = typer.Option([], "-i", "--input", help="key=value; key=@file for a file."),
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
        schema = _input_schema(http, model, version)
        payload = {"input": _parse_inputs(inputs, schema)}
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
        if stream_url and prediction["status"] not in TERMINAL:
            streamed = _stream(http, stream_url)
        prediction = _wait(http, prediction)
    _report(prediction, output_dir, streamed)


def _input_schema(http: httpx.Client, model: str, version: str) -> dict[str, Any]:
    if version:
        data = check(request(http.get, f"/v1/models/{model}/versions/{version}"))
    else:
        data = (check(request(http.get, f"/v1/models/{model}")) or {}).get("latest_version") or {}
    schema = data.get("openapi_schema") or {}
    props: dict[str, Any] = (
        schema.get("components", {}).get("schemas", {}).get("Input", {}).get("properties", {})
    )
    return props


def _parse_inputs(pairs: list[str], props: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"Inputs are key=value; got {pair!r}.")
        if key not in props:
            known = ", ".join(props) or "none"
            fail(f"The model has no input named {key!r} (its inputs: {known}).")
        values[key] = _coerce(key, raw, props[key])
    return values


def _coerce(key: str, raw: str, prop: dict[str, Any]) -> Any:
    if raw.startswith("@"):
        path = Path(raw[1:])
        if not path.is_file():
            fail(f"Input {key}: the file {path} does not exist.")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
    kind = prop.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if kind in ("array", "object"):
            return json.loads(raw)
    except ValueError:
        fail(f"Input {key} must be of type {kind}.")
    return raw


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


def _save_files(value: Any, output_dir: Path) -> Any:
    """Download output file URLs into output_dir; returns the output with local paths."""
    if isinstance(value, list):
        return [_save_files(v, output_dir) for v in value]
    if isinstance(value, dict):
        return {k: _save_files(v, output_dir) for k, v in value.items()}
    if isinstance(value, str) and "/v1/deliveries/" in value:
        name = unquote(urlsplit(value).path.rsplit("/", 1)[-1]) or "output"
        target = output_dir / name
        with httpx.Client(timeout=300) as anon:
            resp = anon.get(value)
        if resp.status_code != 200:
            fail(f"Could not download the output file {name} (HTTP {resp.status_code}).")
        output_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resp.content)
        console.print(f"Saved {target}", highlight=False)
        return str(target)
    return value
