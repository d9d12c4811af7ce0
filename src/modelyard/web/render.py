"""Templates: the Jinja2 environment, page responses, markdown and how outputs are shown."""

from __future__ import annotations

import json
import mimetypes
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
MEDIA = {"image": "image", "audio": "audio", "video": "video"}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = markdown
    env.filters["pretty"] = pretty
    env.filters["duration"] = duration
    env.filters["usd"] = usd
    env.globals["output_items"] = output_items
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A whole page; every template gets the request, the viewer and the CSRF token."""
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    html = environment().get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def fragment(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


@cache
def _markdown() -> MarkdownIt:
    # "js-default": raw HTML in a README is escaped, and javascript: links are refused.
    return MarkdownIt("js-default").enable("table")


def markdown(text: str | None, cover: str | None = None) -> Markup:
    """A README as HTML. Its images of files beside it (`![cover](cover.png)`) cannot be
    fetched from here: the cover shows the model's stored cover image, other ones their alt."""
    md = _markdown()
    tokens = md.parse(text or "")
    for token in tokens:
        for child in token.children or []:
            src = str(child.attrGet("src") or "") if child.type == "image" else ""
            if child.type == "image" and not src.startswith(("http://", "https://", "/")):
                if cover and src.rsplit("/", 1)[-1].startswith("cover."):
                    child.attrSet("src", cover)
                else:
                    child.type, child.content = "text", child.content or src
    html = md.renderer.render(tokens, md.options, {})
    return Markup(html)  # noqa: S704 - markdown-it escapes the README's HTML


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def usd(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"${value:.6f}" if value < 0.01 else f"${value:.2f}"


def media_kind(url: str) -> str:
    """image, audio, video or file, from the file name in a URL (or a data: URL's type)."""
    if url.startswith("data:"):
        mime = url[5:].split(";", 1)[0].split(",", 1)[0]
    else:
        mime = mimetypes.guess_type(unquote(urlsplit(url).path))[0] or ""
    return MEDIA.get(mime.split("/", 1)[0], "file")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def output_items(output: Any, iterator: bool = False) -> list[dict[str, Any]]:
    """How to show an output: a list of {kind: text|json|image|audio|video|file, value}.

    An iterator of strings is one text (its tokens joined), as the model streamed it.
    """
    if output is None:
        return []
    if isinstance(output, list) and output and all(isinstance(v, str) for v in output):
        if all(_is_url(v) for v in output):
            return [_url_item(v) for v in output]
        if iterator:
            return [{"kind": "text", "value": "".join(output)}]
    if _is_url(output):
        return [_url_item(output)]
    if isinstance(output, str):
        return [{"kind": "text", "value": output}]
    return [{"kind": "json", "value": pretty(output)}]


def _url_item(url: str) -> dict[str, Any]:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if not url.startswith("data:") else ""
    return {"kind": media_kind(url), "value": url, "name": name or "output"}
