"""What each API operation accepts and answers, as the published OpenAPI document says it.

One `Op` per (method, path). `tests/unit/api/test_openapi.py` fails for a route of the API
that has none here, so a new route is documented when it is added. Request bodies carry the
constraints the services enforce; `errors` lists the statuses the route itself can answer
(the ones every route shares are added by `api/openapi.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.services.billing import MAX_CREDIT
from modelyard.services.deployments import MAX_MAX_INSTANCES, MAX_MIN_INSTANCES

NAME = "^[a-z0-9][a-z0-9_.-]{0,99}$"  # model, deployment names (services/models.py)
USERNAME = "^[a-z0-9][a-z0-9_-]{0,62}$"  # accounts (accounts/users.py)
JSON = "application/json"


@dataclass(frozen=True)
class Op:
    """One operation: its success status and media types, errors, body and query."""

    status: int = 200
    media: tuple[str, ...] = (JSON,)
    schema: str | None = None  # a component schema of the success body
    errors: tuple[int, ...] = ()
    body: dict[str, Any] | None = None  # request body: media type -> schema
    body_required: bool = True
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth: bool = True


def _json_body(
    properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return {JSON: {"schema": schema}}


_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_URL = {"type": ["string", "null"], "format": "uri", "pattern": "^https?://", "maxLength": 2048}
_CURSOR = {"cursor": {"type": "string"}}
_PREFER = {"Prefer": {"type": "string", "pattern": "^wait(=[0-9]{1,2})?$"}}
_EVENTS = {
    "type": ["array", "null"],
    "items": {"enum": ["start", "output", "logs", "completed"]},
}
_PREDICTION_BODY = {
    "input": {"type": "object"},
    "webhook": _URL,
    "webhook_events_filter": _EVENTS,
    "stream": {"type": ["boolean", "null"]},
}
_VERSION_REF = {
    "type": "string",
    "description": "A version id, owner/name:id or owner/name",
    "pattern": "^([0-9a-f]{64}|[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*(:[0-9a-f]{64})?)$",
}
_MIN_INSTANCES = {"type": "integer", "minimum": 0, "maximum": MAX_MIN_INSTANCES}
_MAX_INSTANCES = {"type": "integer", "minimum": 0, "maximum": MAX_MAX_INSTANCES}
_CREATE = (402, 404, 422)  # billing required, unknown model, invalid input
# A prediction on a model or deployment named in the path.
_NAMED_CREATE = Op(
    201,
    schema="Prediction",
    errors=_CREATE,
    body=_json_body(_PREDICTION_BODY),
    body_required=False,
    headers=_PREFER,
)

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/health"): Op(auth=False),
    # Predictions (Replicate's).
    ("GET", "/v1/predictions"): Op(
        schema="PredictionPage",
        errors=(400,),
        query={
            **_CURSOR,
            "created_after": {"type": "string", "format": "date-time"},
            "created_before": {"type": "string", "format": "date-time"},
            "source": {"type": "string", "description": "api or web"},
        },
    ),
    ("POST", "/v1/predictions"): Op(
        201,
        schema="Prediction",
        errors=_CREATE,
        body=_json_body({"version": _VERSION_REF, **_PREDICTION_BODY}, ("version",)),
        headers=_PREFER,
    ),
    ("POST", "/v1/models/{owner}/{name}/predictions"): _NAMED_CREATE,
    ("POST", "/v1/deployments/{owner}/{name}/predictions"): _NAMED_CREATE,
    ("GET", "/v1/predictions/{prediction_id}"): Op(schema="Prediction", errors=(404,)),
    ("POST", "/v1/predictions/{prediction_id}/cancel"): Op(schema="Prediction", errors=(404,)),
    ("GET", "/v1/predictions/{prediction_id}/webhooks"): Op(errors=(404,)),
    # Models and versions.
    ("GET", "/v1/models"): Op(schema="ModelPage", errors=(400,), query=_CURSOR),
    ("QUERY", "/v1/models"): Op(
        schema="ModelPage",
        errors=(400,),
        body={"text/plain": {"schema": {"type": "string", "minLength": 1, "pattern": r"\S"}}},
    ),
    ("POST", "/v1/models"): Op(
        201,
        schema="Model",
        errors=(400, 409, 422),
        body=_json_body(
            {
                "owner": {"type": "string", "pattern": USERNAME},
                "name": {"type": "string", "pattern": NAME},
                "visibility": {"enum": ["public", "private"]},
                "hardware": {"type": "string"},
                "description": _OPT_STR,
                "github_url": _OPT_STR,
                "paper_url": _OPT_STR,
                "license_url": _OPT_STR,
                "cover_image_url": _OPT_STR,
            },
            ("owner", "name"),
        ),
    ),
    ("GET", "/v1/models/{owner}/{name}"): Op(schema="Model", errors=(404,)),
    ("DELETE", "/v1/models/{owner}/{name}"): Op(204, media=(), errors=(404, 409)),
    ("GET", "/v1/models/{owner}/{name}/versions"): Op(
        schema="VersionPage", errors=(400, 404), query=_CURSOR
    ),
    ("POST", "/v1/models/{owner}/{name}/versions"): Op(
        201,
        media=(JSON, "application/x-ndjson"),
        schema="Version",
        errors=(400, 404, 409),
        body={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        query={"weights": {"type": "string", "maxLength": 4096}},
    ),
    ("GET", "/v1/models/{owner}/{name}/versions/{version_id}"): Op(schema="Version", errors=(404,)),
    ("DELETE", "/v1/models/{owner}/{name}/versions/{version_id}"): Op(
        202, media=(), errors=(404, 409)
    ),
    # Files.
    ("GET", "/v1/files"): Op(errors=(400,), query=_CURSOR),
    ("POST", "/v1/files"): Op(
        201,
        errors=(400, 422),
        body={
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "format": "binary"},
                        # Text parts: any text is a name or a media type.
                        "filename": {"maxLength": 255},
                        "type": {},
                        "metadata": {"type": "object"},  # a JSON object in its part
                    },
                    "required": ["content"],
                }
            }
        },
    ),
    ("GET", "/v1/files/{file_id}"): Op(errors=(404,)),
    ("DELETE", "/v1/files/{file_id}"): Op(204, media=(), errors=(404,)),
    ("GET", "/v1/files/{file_id}/download"): Op(
        media=("*/*",),
        errors=(403, 404),
        auth=False,
        query={  # a signed download without a token (see docs/api-extensions.md)
            "owner": {"type": "string"},
            "expiry": {"type": "string"},
            "signature": {"type": "string"},
        },
    ),
    # Account, hardware, webhooks, streams, deliveries.
    ("GET", "/v1/account"): Op(schema="Account"),
    ("GET", "/v1/hardware"): Op(),
    ("GET", "/v1/webhooks/default/secret"): Op(),
    ("GET", "/v1/streams/{prediction_id}/{token}"): Op(
        media=("text/event-stream",),
        errors=(404,),
        auth=False,
        headers={"Last-Event-ID": {"type": "string"}},
    ),
    ("GET", "/v1/deliveries/{key}"): Op(
        media=("*/*",),
        errors=(403, 404),
        auth=False,
        query={"expiry": {"type": "string"}, "signature": {"type": "string"}},
    ),
    # Accounts, organizations and tokens (extensions).
    ("GET", "/v1/account/tokens"): Op(errors=(404,), query={"account": {"type": "string"}}),
    ("POST", "/v1/account/tokens"): Op(
        201,
        errors=(403, 404),
        body=_json_body({"name": _OPT_STR, "account": _OPT_STR}),
        body_required=False,
    ),
    ("DELETE", "/v1/account/tokens/{token_id}"): Op(204, media=(), errors=(404,)),
    ("POST", "/v1/users"): Op(
        201,
        errors=(404, 409),
        body=_json_body(
            {
                "username": {"type": "string", "pattern": USERNAME},
                "name": _OPT_STR,
                "password": {"type": ["string", "null"], "minLength": 8},
            },
            ("username",),
        ),
    ),
    ("POST", "/v1/organizations"): Op(
        201,
        errors=(404, 409),
        body=_json_body(
            {
                "username": {"type": "string", "pattern": USERNAME},
                "name": _OPT_STR,
                "members": {"type": "array", "items": {"type": "string", "pattern": USERNAME}},
            },
            ("username",),
        ),
    ),
    ("GET", "/v1/organizations/{name}/members"): Op(errors=(400, 404)),
    ("POST", "/v1/organizations/{name}/members"): Op(
        201,
        errors=(404,),
        body=_json_body({"username": {"type": "string", "pattern": USERNAME}}, ("username",)),
    ),
    # Billing (extensions).
    ("GET", "/v1/usage"): Op(
        errors=(400, 404),
        query={
            "start": {"type": "string", "description": "ISO 8601 [first of the month]"},
            "end": {"type": "string", "description": "ISO 8601, exclusive [now]"},
            "group_by": {"enum": ["model", "hardware", "day", "deployment"]},
            "account": {"type": "string"},
        },
    ),
    ("GET", "/v1/account/credit"): Op(),
    ("POST", "/v1/accounts/{username}/credit"): Op(
        201,
        errors=(404,),
        body=_json_body(
            {
                "amount_usd": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CREDIT},
                "note": _OPT_STR,
            },
            ("amount_usd",),
        ),
    ),
    # Deployments (Replicate's).
    ("GET", "/v1/deployments"): Op(errors=(400,), query=_CURSOR),
    ("POST", "/v1/deployments"): Op(
        errors=(404, 409, 422),
        body=_json_body(
            {
                "name": {"type": "string", "pattern": NAME},
                "model": {
                    "type": "string",
                    "pattern": "^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$",
                },
                "version": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "hardware": {"type": "string"},
                "min_instances": _MIN_INSTANCES,
                "max_instances": _MAX_INSTANCES,
            },
            ("name", "model", "version", "hardware", "min_instances", "max_instances"),
        ),
    ),
    ("GET", "/v1/deployments/{owner}/{name}"): Op(errors=(404,)),
    ("PATCH", "/v1/deployments/{owner}/{name}"): Op(
        errors=(400, 404, 409, 422),
        body=_json_body(
            {
                "version": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "hardware": {"type": "string"},
                "min_instances": _MIN_INSTANCES,
                "max_instances": _MAX_INSTANCES,
            },
            minProperties=1,
        ),
    ),
    ("DELETE", "/v1/deployments/{owner}/{name}"): Op(204, media=(), errors=(404, 409)),
    # Instances and workers (extensions).
    ("GET", "/v1/instances"): Op(query={"all": {"type": "string", "description": "1: past too"}}),
    ("GET", "/v1/instances/{instance_id}"): Op(errors=(404,)),
    ("GET", "/v1/workers"): Op(errors=(404,)),
    # Trainings (Replicate's).
    ("POST", "/v1/models/{owner}/{name}/versions/{version_id}/trainings"): Op(
        201,
        errors=_CREATE,
        body=_json_body(
            {
                "destination": {
                    "type": "string",
                    "pattern": "^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$",
                },
                "input": {"type": "object"},
                "webhook": _URL,
                "webhook_events_filter": _EVENTS,
            },
            ("destination",),
        ),
    ),
    ("GET", "/v1/trainings"): Op(errors=(400,), query=_CURSOR),
    ("GET", "/v1/trainings/{training_id}"): Op(errors=(404,)),
    ("POST", "/v1/trainings/{training_id}/cancel"): Op(errors=(404,)),
}
