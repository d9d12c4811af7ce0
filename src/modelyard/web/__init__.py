"""The web app: server-rendered pages to explore, run and inspect models, at `/`.

`install(app)` adds every page to an API app (the app factory calls it, so `serve` and every
API process serve the pages). No page is in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.web import account, auth, deployments, models, predictions, static

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the pages after the API's routes: `/{owner}/{name}` must come last."""
    for module in (static, auth, predictions, deployments, account, models):
        app.include_router(module.router, include_in_schema=False)
