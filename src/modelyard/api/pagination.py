"""Cursor pages as Replicate returns them: `{next, previous, results}` with absolute URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from modelyard.services.urls import Urls


def page(
    urls: Urls,
    path: str,
    results: list[dict[str, Any]],
    next_cursor: str | None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One page; `next` repeats the request's filters (`query`) with the new cursor."""
    next_url = None
    if next_cursor:
        next_url = urls.api(f"{path}?{urlencode({'cursor': next_cursor, **(query or {})})}")
    return {"next": next_url, "previous": None, "results": results}
