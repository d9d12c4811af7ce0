"""Assemble a version's OpenAPI 3.0.2 document from its schema fragments, as cog's Go CLI does."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_REF = "#/components/schemas/"
_STATUS = ["starting", "processing", "succeeded", "canceled", "failed"]
_EMPTY_200 = {"description": "Successful Response", "content": {"application/json": {"schema": {}}}}
_VALIDATION_422 = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": _REF + "HTTPValidationError"}}},
}


@dataclass(frozen=True)
class Fragments:
    """What inspection of one entry point yields: Input, its `choices` enums, Output."""

    input: dict[str, Any]
    enums: dict[str, Any]
    output: dict[str, Any]


def openapi_document(
    predict: Fragments, train: Fragments | None = None, *, cog_version: str
) -> dict[str, Any]:
    """The whole document coglet serves and validates against.

    Follows cog's `buildOpenAPISpec` (paths, components, titles) and adds PUT
    `/predictions/{prediction_id}`. `x-cog-streaming` is always true on `/predictions`: the
    platform follows every prediction over coglet's SSE stream. With `train`, the training
    paths and components the prediction document lacks are merged in (Go's MergeSchemas).
    """
    doc = _document(predict, "predict", cog_version)
    if train is not None:
        trained = _document(train, "train", cog_version)
        for name, path in trained["paths"].items():
            doc["paths"].setdefault(name, path)
        for name, component in trained["components"]["schemas"].items():
            doc["components"]["schemas"].setdefault(name, component)
    fixed: dict[str, Any] = _fix_nullable_any_of(_drop_title_next_to_ref(doc))
    return fixed


def _document(fragments: Fragments, mode: str, cog_version: str) -> dict[str, Any]:
    train = mode == "train"
    noun, plural = ("training", "trainings") if train else ("prediction", "predictions")
    verb = "train" if train else "predict"
    prefix = "Training" if train else "Prediction"
    input_key, output_key = ("TrainingInput", "TrainingOutput") if train else ("Input", "Output")
    components: dict[str, Any] = {
        input_key: {**copy.deepcopy(fragments.input), "title": input_key},
        output_key: copy.deepcopy(fragments.output),
        **copy.deepcopy(fragments.enums),
        f"{prefix}Request": {
            "title": f"{prefix}Request",
            "type": "object",
            "properties": {
                "id": {"title": "Id", "type": "string"},
                "input": {"$ref": _REF + input_key},
            },
        },
        f"{prefix}Response": _response_component(prefix, input_key, output_key),
        **_shared_components(),
    }
    request_body = {"content": {"application/json": {"schema": {"$ref": f"{_REF}{prefix}Request"}}}}
    responses = {
        "200": {
            "description": "Successful Response",
            "content": {"application/json": {"schema": {"$ref": f"{_REF}{prefix}Response"}}},
        },
        "422": _VALIDATION_422,
    }
    main: dict[str, Any] = {
        "summary": verb.title(),
        "description": f"Run a single {noun} on the model",
        "operationId": f"{verb}_{plural}_post",
        "requestBody": request_body,
        "responses": responses,
    }
    if not train:
        main["x-cog-streaming"] = True
    id_param = {
        "required": True,
        "schema": {"title": f"{noun.title()} Id", "type": "string"},
        "name": f"{noun}_id",
        "in": "path",
    }
    paths = {
        "/": {"get": _simple_get("Root", "root__get")},
        "/health-check": {"get": _simple_get("Healthcheck", "healthcheck_health_check_get")},
        f"/{plural}": {"post": main},
        f"/{plural}/{{{noun}_id}}": {
            "put": {
                "summary": f"{verb.title()} Idempotent",
                "description": f"Run a single {noun} on the model (idempotent creation).",
                "operationId": f"{verb}_idempotent_{plural}__{noun}_id__put",
                "parameters": [id_param],
                "requestBody": {**request_body, "required": True},
                "responses": responses,
            }
        },
        f"/{plural}/{{{noun}_id}}/cancel": {
            "post": {
                "summary": "Cancel",
                "operationId": f"cancel_{plural}__{noun}_id__cancel_post",
                "parameters": [id_param],
                "responses": {"200": _EMPTY_200, "422": _VALIDATION_422},
            }
        },
    }
    return copy.deepcopy(
        {
            "components": {"schemas": components},
            "info": {"title": "Cog", "version": cog_version},
            "openapi": "3.0.2",
            "paths": paths,
        }
    )


def _simple_get(summary: str, operation_id: str) -> dict[str, Any]:
    return {"summary": summary, "operationId": operation_id, "responses": {"200": _EMPTY_200}}


def _response_component(prefix: str, input_key: str, output_key: str) -> dict[str, Any]:
    def text(title: str, **extra: str) -> dict[str, str]:
        return {"title": title, "type": "string", **extra}

    return {
        "title": f"{prefix}Response",
        "type": "object",
        "properties": {
            "input": {"$ref": _REF + input_key},
            "output": {"$ref": _REF + output_key},
            "id": text("Id"),
            "version": text("Version"),
            "created_at": text("Created At", format="date-time"),
            "started_at": text("Started At", format="date-time"),
            "completed_at": text("Completed At", format="date-time"),
            "status": text("Status"),
            "error": text("Error"),
            "logs": text("Logs"),
            "metrics": {"title": "Metrics", "type": "object"},
        },
    }


def _shared_components() -> dict[str, Any]:
    return {
        "Status": {
            "title": "Status",
            "description": "An enumeration.",
            "enum": list(_STATUS),
            "type": "string",
        },
        "HTTPValidationError": {
            "title": "HTTPValidationError",
            "type": "object",
            "properties": {
                "detail": {
                    "title": "Detail",
                    "type": "array",
                    "items": {"$ref": _REF + "ValidationError"},
                }
            },
        },
        "ValidationError": {
            "title": "ValidationError",
            "required": ["loc", "msg", "type"],
            "type": "object",
            "properties": {
                "loc": {
                    "title": "Location",
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"title": "Message", "type": "string"},
                "type": {"title": "Error Type", "type": "string"},
            },
        },
    }


def _drop_title_next_to_ref(value: Any) -> Any:
    """OpenAPI 3.0 allows no siblings beside `$ref`; cog drops `title` there."""
    if isinstance(value, dict):
        return {
            key: _drop_title_next_to_ref(item)
            for key, item in value.items()
            if not (key == "title" and "$ref" in value)
        }
    if isinstance(value, list):
        return [_drop_title_next_to_ref(item) for item in value]
    return value


def _fix_nullable_any_of(value: Any) -> Any:
    """`anyOf: [T, {type: null}]` becomes T plus `nullable: true` (OpenAPI 3.0 style)."""
    if isinstance(value, list):
        return [_fix_nullable_any_of(item) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: _fix_nullable_any_of(item) for key, item in value.items()}
    variants = value.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2:
        rest = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(rest) == 1 and isinstance(rest[0], dict):
            del value["anyOf"]
            value.update(rest[0])
            value["nullable"] = True
    return value
