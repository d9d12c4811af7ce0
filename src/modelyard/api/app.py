"""The FastAPI application factory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelyard import __version__, web
from modelyard.api import (
    account,
    accounts,
    billing,
    deliveries,
    deployments,
    files,
    instances,
    models,
    openapi,
    predictions,
    problems,
    streams,
    trainings,
    workers,
)
from modelyard.api import openai as openai_api
from modelyard.api.limits import BodyLimits, RouteLimit, size_text
from modelyard.api.ratelimits import RateLimitHeaders
from modelyard.services import files as files_service
from modelyard.services.platform import Platform
from modelyard.settings import Settings


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
    openapi.install(app)
    problems.install(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        BodyLimits,
        default=platform.settings.max_json_bytes,
        default_detail=(
            f"The request body must be smaller than {size_text(platform.settings.max_json_bytes)}"
            "; upload large files to /v1/files and pass their URLs."
        ),
        routes=body_limits(platform.settings),
    )
    for module in (predictions, models, files, account, streams, deliveries, trainings):
        app.include_router(module.router)
    for module in (accounts, billing):  # issue 5: accounts and billing extensions
        app.include_router(module.router)
    for module in (deployments, instances):  # issue 6: deployments, instances
        app.include_router(module.router)
    app.include_router(workers.router)  # issue 10: the cluster's workers
    app.include_router(openai_api.router)  # issue 15: OpenAI-compatible endpoints
    web.install(app)  # issue 13: the web app at `/`; last, since `/{owner}/{name}` matches widely
    return app


def body_limits(settings: Settings) -> list[RouteLimit]:
    """The routes whose bodies are legitimately larger than a JSON request."""
    output = settings.max_output_bytes
    return [
        RouteLimit(
            "POST",
            re.compile(r"/v1/files/?$"),
            settings.max_file_bytes + files.MULTIPART_OVERHEAD,
            files_service.TOO_LARGE,
        ),
        RouteLimit(
            "POST",
            re.compile(r"/v1/models/[^/]+/[^/]+/versions/?$"),
            models.MAX_BUNDLE,
            f"A model bundle must be smaller than {size_text(models.MAX_BUNDLE)}"
            "; add large files to .cogignore.",
        ),
        RouteLimit(
            "POST",
            re.compile(r"/[^/]+/[^/]+/run$"),  # the web form, with its file inputs
            settings.max_file_bytes + files.MULTIPART_OVERHEAD,
            files_service.TOO_LARGE,
        ),
        RouteLimit(  # a training's last webhook carries its weights inline
            "POST",
            re.compile(r"/internal/events/"),
            output,
            f"A training's output must be smaller than {size_text(output)}"
            " (MODELYARD_MAX_OUTPUT_BYTES).",
        ),
        RouteLimit(
            "PUT",
            re.compile(r"/internal/uploads/"),
            output,
            f"An output file must be smaller than {size_text(output)}"
            " (MODELYARD_MAX_OUTPUT_BYTES).",
        ),
    ]
