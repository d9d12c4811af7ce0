"""The one place errors become `application/problem+json` responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from modelyard.api.openapi import allowed_methods
from modelyard.core.errors import ModelyardError

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: object
) -> Response:
    body = {"title": title, "detail": detail, "status": status, **extra}
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


async def _modelyard_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    body = exc.to_problem()
    return Response(
        json.dumps(body), status_code=exc.status, media_type=PROBLEM, headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    status, headers = exc.status_code, exc.headers
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be handled."
    if status in (404, 405):  # `Allow` lists every method of the path, as documented
        methods = allowed_methods(request.app, request.url.path)
        if methods and request.method not in methods:
            status, headers = 405, {"Allow": ", ".join(methods)}
            detail = f"This URL answers {', '.join(methods)}."
    if status == 404:
        detail = "There is nothing at this URL."
    return problem(status, titles.get(status, "Error"), detail, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
        }
        for e in exc.errors()
    ]
    detail = (
        "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "The request is not valid."
    )
    return problem(422, "Invalid request", detail, errors=errors)


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    # Nobody is left to read this answer; handling it keeps a traceback out of the log.
    return problem(400, "Bad Request", "The connection closed before the whole body arrived.")


async def _unexpected(_request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal Server Error", "Something went wrong on the server; see its log.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
