"""The platform's OpenAPI document, describing the API as it behaves.

FastAPI documents each route as `200` with any JSON and `422` as its own validation error,
and knows nothing of bodies our routes read themselves. The document is built here from
`_openapi_routes.ROUTES` instead: each operation's success status and media types, every
error it can answer as problem+json (`errors` beside `detail` on 422s), its request body
with the constraints the services enforce, its query and header parameters, and Replicate's
object shapes. Only the API is published (`/v1/...`, `/openai/...`, `/health`): the model
instances' internal routes and the web app's pages are left out.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import JSONResponse

from modelyard.api._openapi_routes import ROUTES, Op
from modelyard.core.shapes import Account, Model, Prediction, Version

PUBLISHED = ("/v1/", "/openai/", "/health")
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
REASONS = {
    400: "The request is malformed (not JSON, or a rule the body breaks)",
    401: "No valid API token",
    402: "The account's credit is used up",
    403: "Not allowed (a signature that does not match, an account limit)",
    404: "Not found, or not visible to this token",
    409: "Conflicts with what exists",
    413: "The request body is too large",
    422: "A field is invalid; `errors` names each",
    429: "Rate limited; see Retry-After",
    500: "An unexpected error; the server log has it",
    503: "The server is shutting down",
}


def install(app: FastAPI) -> None:
    """Serve the document at /openapi.json (FastAPI's route) and /v1/openapi.json."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]

    async def openapi_json(_request: Request) -> JSONResponse:
        return JSONResponse(document(app))

    app.add_route("/v1/openapi.json", openapi_json, include_in_schema=False)


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `app`, built once and kept."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema["paths"] = {
            path: {method: _operation(method, path, op) for method, op in operations.items()}
            for path, operations in schema.get("paths", {}).items()
            if path.startswith(PUBLISHED)
        }
        schema["components"] = {"schemas": _components()}
        schema["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        app.openapi_schema = schema
    return app.openapi_schema


def documented(method: str, path: str) -> Op | None:
    return ROUTES.get((method.upper(), path))


def _operation(method: str, path: str, generated: dict[str, Any]) -> dict[str, Any]:
    op = documented(method, path) or Op()
    operation: dict[str, Any] = {
        "operationId": generated.get("operationId"),
        "summary": generated.get("summary"),
        "responses": _responses(op, method),
    }
    if generated.get("description"):
        operation["description"] = generated["description"]
    parameters = [p for p in generated.get("parameters", []) if p.get("in") == "path"]
    for name, spec in op.query.items():
        parameters.append({"name": name, "in": "query", "required": False, "schema": spec})
    for name, spec in op.headers.items():
        parameters.append({"name": name, "in": "header", "required": False, "schema": spec})
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {"required": op.body_required, "content": op.body}
    if op.auth:
        operation["security"] = [{"token": []}]
    return operation


def _responses(op: Op, method: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if op.media:
        item = {"$ref": f"#/components/schemas/{op.schema}"} if op.schema else {}
        success["content"] = {
            media: {"schema": item if media == "application/json" else {}} for media in op.media
        }
    errors = set(op.errors) | {500}
    if op.auth:
        errors |= {401, 429}
    if op.body is not None:
        errors |= {400, 413, 422}
    if method.upper() == "POST" and op.status == 201:
        errors.add(503)
    responses: dict[str, Any] = {str(op.status): success}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": REASONS.get(status, "Error"),
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    return responses


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM}
    for shape in (Prediction, Model, Version, Account):
        generated = shape.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas[shape.__name__] = generated
    for name in ("Prediction", "Model", "Version"):
        schemas[f"{name}Page"] = {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": ["string", "null"]},
                "previous": {"type": ["string", "null"]},
                "results": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            },
        }
    return schemas


def allowed_methods(app: FastAPI, path: str) -> list[str] | None:
    """The documented methods of the API path `path` matches, or None for no API path."""
    templates: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        app.state, "openapi_templates", None
    )
    if templates is None:
        templates = [
            (_template(template), sorted(m.upper() for m in operations))
            for template, operations in document(app)["paths"].items()
        ]
        app.state.openapi_templates = templates
    for pattern, methods in templates:
        if pattern.fullmatch(path):
            return methods
    return None


def _template(path: str) -> re.Pattern[str]:
    # `{key}` of /v1/deliveries/{key} spans slashes (a `{key:path}` route); others do not.
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "".join(
            ("(.+)" if part == "{key}" and "deliveries" in path else "([^/]+)")
            if part.startswith("{")
            else re.escape(part)
            for part in parts
        )
    )
