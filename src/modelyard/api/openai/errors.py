"""Errors on /openai/v1 in OpenAI's shape, with the statuses its clients map to exceptions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from modelyard.core.errors import BadRequest, BillingRequired, ModelyardError, RateLimited

logger = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})
T = TypeVar("T", bound=BaseModel)


def error_body(exc: ModelyardError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, `{"error": {message, type, param, code}}` and headers for a platform error."""
    status, headers = exc.status, dict(exc.headers)
    code: str | None = exc.extra.get("code") or _CODES.get(status)
    if isinstance(exc, BillingRequired):
        # OpenAI answers a used-up quota with 429; its clients must not retry it.
        status, code = 429, "insufficient_quota"
        headers["x-should-retry"] = "false"
    elif status == 422:  # input the model refused: OpenAI's clients expect 400 for a bad param
        status = 400
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    if isinstance(exc, BillingRequired):
        kind = "insufficient_quota"
    elif isinstance(exc, RateLimited):
        code = "rate_limit_exceeded"
    error = {"message": exc.detail, "type": kind, "param": exc.extra.get("param"), "code": code}
    return status, {"error": error}, headers


def error_response(exc: ModelyardError) -> Response:
    status, body, headers = error_body(exc)
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def parse_request(model: type[T], data: Any) -> T:
    """The body as `model`, or a 400 naming the first bad parameter (never its value)."""
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param(first["loc"])
        message = first["msg"]
        if first["type"] == "missing":
            message = "this parameter is required"
        raise BadRequest(
            f"Invalid value for `{param}`: {message}.", extra={"param": param}
        ) from exc


def _param(loc: tuple[Any, ...]) -> str:
    """`("messages", 0, "content")` → `messages[0].content`, skipping pydantic's union tags."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (
            part.startswith(("str", "list[", "literal[")) or "[" in part
        ):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


class OpenAIRoute(APIRoute):
    """A route whose errors (auth and rate limits included) come back in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelyardError as exc:
                return error_response(exc)
            except Exception:
                logger.exception("unhandled error on %s", request.url.path)
                return error_response(
                    ModelyardError("Something went wrong on the server; see its log.")
                )

        return handle
