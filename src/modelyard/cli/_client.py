"""How CLI commands reach a modelyard server: URL, token, and readable errors."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
DEFAULT_URL = "http://127.0.0.1:8000"


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("MODELYARD_URL") or DEFAULT_URL).rstrip("/")


def resolve_token(token: str | None) -> str:
    value = token or os.environ.get("MODELYARD_TOKEN") or os.environ.get("REPLICATE_API_TOKEN")
    if not value:
        fail(
            "No API token. Pass --token, or set MODELYARD_TOKEN (or REPLICATE_API_TOKEN); "
            "`modelyard tokens create` makes one."
        )
    return value


def client(url: str | None, token: str | None, timeout: float = 60.0) -> httpx.Client:
    base = resolve_url(url)
    return httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {resolve_token(token)}", "User-Agent": "modelyard-cli"},
        timeout=httpx.Timeout(timeout, connect=10.0),
        verify=os.environ.get("SSL_CERT_FILE") or True,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


def check(response: httpx.Response) -> Any:
    """The JSON body of a successful response; a readable error and exit otherwise."""
    if response.status_code < 400:
        return response.json() if response.content else None
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title") or response.text
    except ValueError:
        detail = response.text or response.reason_phrase
    fail(f"{detail} (HTTP {response.status_code})")


def request(call: Any, *args: Any, **kwargs: Any) -> httpx.Response:
    try:
        return call(*args, **kwargs)  # type: ignore[no-any-return]
    except httpx.ConnectError:
        fail("Could not connect to the modelyard server. Is `modelyard serve` running? (--url)")
    except httpx.TimeoutException:
        fail("The modelyard server did not answer in time.")
