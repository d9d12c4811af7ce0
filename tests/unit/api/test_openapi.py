"""The published OpenAPI document covers every API route and only the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from modelyard.api import create_app
from modelyard.api._openapi_routes import ROUTES
from modelyard.api.openapi import PUBLISHED, allowed_methods, document
from modelyard.services.platform import Platform
from modelyard.settings import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("openapi")
    return create_app(Platform(Settings(data_dir=Path(data), register_builtin_models=False)))


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    generated = get_openapi(title="t", version="0", routes=app.routes)
    return {(m.upper(), p) for p, ops in generated["paths"].items() for m in ops}


def test_every_api_route_is_documented(app: FastAPI) -> None:
    api = {(m, p) for m, p in every_route(app) if p.startswith(PUBLISHED)}
    missing = sorted(api - set(ROUTES))
    assert not missing, f"add these operations to api/_openapi_routes.py: {missing}"
    assert not sorted(set(ROUTES) - api), "ROUTES names operations the app no longer has"


def test_only_the_api_is_published(app: FastAPI) -> None:
    paths = document(app)["paths"]
    assert paths and all(p.startswith(PUBLISHED) for p in paths)
    assert not any(p.startswith("/internal") for p in paths)


def test_each_operation_lists_its_errors_as_problems(app: FastAPI) -> None:
    for path, operations in document(app)["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "500" in statuses, (method, path)
            if operation.get("security"):
                assert {"401", "429"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"]


def test_allowed_methods_follow_the_document(app: FastAPI) -> None:
    assert allowed_methods(app, "/v1/models") == ["GET", "POST", "QUERY"]
    assert allowed_methods(app, "/v1/deliveries/predictions/x/out.png") == ["GET"]
    assert allowed_methods(app, "/internal/uploads/a/b") is None
