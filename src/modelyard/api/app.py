"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelyard import __version__
from modelyard.api import (
    account,
    accounts,
    billing,
    deliveries,
    deployments,
    files,
    instances,
    models,
    predictions,
    problems,
    streams,
)
from modelyard.api.ratelimits import RateLimitHeaders
from modelyard.services.platform import Platform


def create_app(
    platform: Platform, on_ready: Callable[[Platform], Awaitable[None]] | None = None
) -> FastAPI:
    """The HTTP API over `platform`; the app's lifespan starts and stops the platform."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        if on_ready is not None:
            await on_ready(platform)
        try:
            yield
        finally:
            await platform.stop()

    app = FastAPI(
        title="modelyard",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    problems.install(app)
    app.add_middleware(RateLimitHeaders)
    for module in (predictions, models, files, account, streams, deliveries):
        app.include_router(module.router)
    for module in (accounts, billing):  # issue 5: accounts and billing extensions
        app.include_router(module.router)
    for module in (deployments, instances):  # issue 6: deployments, instances
        app.include_router(module.router)
    return app
