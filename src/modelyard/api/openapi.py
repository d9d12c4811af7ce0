"""The platform's OpenAPI document, describing the responses the routes really send.

FastAPI documents each route as `200` with any JSON and `422` as its own validation error. Our
routes answer creates with 201, deletes with 202/204, every error as problem+json (`errors`
beside `detail` on 422s), and a few with files or event streams; the document says so, once here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["title", "detail", "status"],
    "properties": {
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "status": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
PROBLEM_RESPONSE = {
    "description": "A problem: what went wrong and what to do (RFC 9457).",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
# Routes whose success is not a JSON document.
SUCCESS_TYPES = {
    "/v1/files/{file_id}/download": "*/*",
    "/v1/deliveries/{key}": "*/*",
    "/v1/streams/{prediction_id}/{token}": "text/event-stream",
}


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `app`, built once and kept."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                operation["responses"] = _responses(path)
        app.openapi_schema = schema
    return app.openapi_schema


def _responses(path: str) -> dict[str, Any]:
    media = SUCCESS_TYPES.get(path, "application/json")
    success: dict[str, Any] = {"description": "Success", "content": {media: {"schema": {}}}}
    if path == "/v1/models/{owner}/{name}/versions":  # a push may stream its build log
        success["content"]["application/x-ndjson"] = {"schema": {}}
    return {
        "2XX": success,
        "4XX": PROBLEM_RESPONSE,
        "5XX": PROBLEM_RESPONSE,
    }
