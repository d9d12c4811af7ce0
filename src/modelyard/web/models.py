"""Pages: explore (search, the catalog) and a model's page, where its form runs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from modelyard.accounts import Account, take_request, throttled
from modelyard.core.errors import InvalidInput
from modelyard.services import files as files_service
from modelyard.services import models as models_service
from modelyard.services import predictions as predictions_service
from modelyard.services.platform import CATALOG_OWNER, Platform
from modelyard.web import forms, snippets
from modelyard.web._route import PageRoute
from modelyard.web.render import page
from modelyard.web.security import Checked, SignedIn, Viewer, platform_of

router = APIRouter(route_class=PageRoute)

# First path segments that are never an owner's name: an unknown API path stays a JSON 404.
RESERVED = frozenset({"v1", "openai", "internal", "static", "p", "health", "openapi.json"})
EXAMPLES = 5


@router.get("/")
async def explore(request: Request, viewer: Viewer) -> Response:
    platform = platform_of(request)
    query = (request.query_params.get("q") or "").strip()[:100] or None
    rows, _ = await models_service.list_models(platform, viewer, cursor=None, query=query)
    urls = platform.urls(str(request.base_url))
    cards = [await models_service.render_model(platform, row, urls) for row in rows]
    catalog = [c for c in cards if c["owner"] == CATALOG_OWNER] if not query else []
    others = [c for c in cards if c not in catalog]
    return page(request, "explore.html", query=query or "", catalog=catalog, models=others)


async def model_context(
    request: Request,
    platform: Platform,
    viewer: Account | None,
    owner: str,
    name: str,
) -> dict[str, Any]:
    """Everything the model page shows."""
    urls = platform.urls(str(request.base_url))
    row = await models_service.get_model(platform, viewer, owner, name)
    model = await models_service.render_model(platform, row, urls)
    versions, _ = await models_service.list_versions(platform, viewer, owner, name, cursor=None)
    latest = model["latest_version"]
    schema = (latest or {}).get("openapi_schema") or {}
    specs = forms.fields(schema)
    output = schema.get("components", {}).get("schemas", {}).get("Output", {})
    iterator = output.get("x-cog-array-type") == "iterator"
    examples: list[dict[str, Any]] = []
    if model["default_example"]:
        examples.append(model["default_example"])
    if viewer is not None:
        recent, _ = await predictions_service.list_predictions(
            platform, viewer, cursor=None, model=f"{owner}/{name}", limit=EXAMPLES
        )
        seen = {e["id"] for e in examples}
        examples += [
            predictions_service.render_prediction(r, urls) for r in recent if r["id"] not in seen
        ]
    example_input = (model["default_example"] or {}).get("input")
    code = snippets.snippets(
        urls.base,
        f"{owner}/{name}",
        snippets.example_input(specs, example_input),
        openai=snippets.supports_chat(
            next((v for v in versions if v["id"] == row["latest_version_id"]), None)
        ),
    )
    return dict(
        model=model,
        readme=row.get("readme"),
        versions=[models_service.render_version(v) for v in versions if v["status"] == "ready"],
        fields=specs,
        iterator=iterator,
        examples=examples,
        snippets=code,
        values={},
    )


@router.get("/{owner}/{name}")
async def model_page(owner: str, name: str, request: Request, viewer: Viewer) -> Response:
    if owner in RESERVED:
        raise HTTPException(404)
    platform = platform_of(request)
    again = request.query_params.get("from")
    context = await model_context(request, platform, viewer, owner, name)
    example = context["model"]["default_example"]
    if again and example and example["id"] == again:
        context["values"] = example["input"]
    elif again and viewer is not None:
        previous = await predictions_service.get_prediction(platform, viewer, again)
        urls = platform.urls(str(request.base_url))
        context["values"] = predictions_service.render_prediction(previous, urls)["input"]
    return page(request, "model.html", **context)


@router.post("/{owner}/{name}/run")
async def run(owner: str, name: str, request: Request, viewer: SignedIn, _c: Checked) -> Response:
    """Create a prediction from the form (source "web"); JSON for the page's script."""
    platform = platform_of(request)
    urls = platform.urls(str(request.base_url))
    # The API's limits on creating predictions hold here too.
    decision = await take_request(
        platform.rate_limiter, platform.rate_limits, "create", viewer.id, viewer.token_id
    )
    if not decision.allowed:
        raise throttled(decision)
    async with platform.db.connect() as conn:
        version = await platform.catalog.resolve(conn, viewer, f"{owner}/{name}")
    form = await request.form(max_part_size=4 * 1024 * 1024)
    specs = forms.fields(version.row.get("openapi_schema") or {})
    values: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if not value.filename:
                continue  # no file chosen
            stored = await files_service.create_file(
                platform,
                viewer,
                content=await value.read(),
                filename=value.filename,
                content_type=value.content_type or "application/octet-stream",
                metadata={"source": "web"},
            )
            value = files_service.render_file(stored, urls)["urls"]["get"]
        values.setdefault(key, []).append(value)
    try:
        data = forms.parse_form(specs, values)
    except forms.FormErrors as exc:
        errors = [{"field": k, "message": v} for k, v in exc.errors.items()]
        raise InvalidInput(f"Invalid input: {exc}", errors) from exc
    body = predictions_service.CreatePrediction(input=data)
    created = await predictions_service.create_prediction(
        platform, viewer, version, body, source="web"
    )
    prediction_id = created.row["id"]
    if "application/json" not in request.headers.get("accept", ""):
        return RedirectResponse(f"/p/{prediction_id}", status_code=303)
    return JSONResponse(
        {
            "id": prediction_id,
            "url": f"/p/{prediction_id}",
            "events": f"/p/{prediction_id}/events",
            "live": f"/p/{prediction_id}/live",
            "iterator": version.is_iterator,
        },
        status_code=201,
    )
