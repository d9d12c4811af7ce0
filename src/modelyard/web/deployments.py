"""Pages: deployments — create, edit (version, hardware, min/max instances), live instances."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelyard.accounts import Account
from modelyard.core.errors import BadRequest
from modelyard.services import deployments as service
from modelyard.services import instances as instances_service
from modelyard.services import models as models_service
from modelyard.services.platform import Platform
from modelyard.web._route import PageRoute
from modelyard.web.render import fragment, page
from modelyard.web.security import Checked, SignedIn, platform_of

router = APIRouter(route_class=PageRoute)
T = TypeVar("T", bound=BaseModel)


async def _instances(platform: Platform, viewer: Account, ref: str | None) -> list[dict[str, Any]]:
    live = await instances_service.list_instances(platform, viewer)
    return [i for i in live if ref is None or i["deployment"] == ref]


def _hardware(platform: Platform) -> list[str]:
    return [h.sku for h in platform.hardware()]


def _int(form: Any, key: str) -> int:
    try:
        return int(str(form.get(key) or "0"))
    except ValueError:
        raise BadRequest(f"{key.replace('_', ' ')} must be a whole number.") from None


def _body(shape: type[T], /, **values: Any) -> T:
    try:
        return shape.model_validate(values)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"The deployment is not valid: {detail}") from exc


@router.get("/deployments")
async def list_page(request: Request, viewer: SignedIn) -> Response:
    platform = platform_of(request)
    views, _ = await service.list_deployments(platform, viewer, cursor=None)
    return page(
        request,
        "deployments.html",
        deployments=[service.render_deployment(v) for v in views],
        instances=await _instances(platform, viewer, None),
        hardware=_hardware(platform),
    )


@router.post("/deployments")
async def create(request: Request, viewer: SignedIn, _c: Checked) -> Response:
    platform = platform_of(request)
    form = await request.form()
    model = str(form.get("model") or "").strip()
    version = str(form.get("version") or "").strip()
    if not version and "/" in model:
        owner, _, name = model.partition("/")
        row = await models_service.get_model(platform, viewer, owner, name)
        version = row["latest_version_id"] or ""
    body = _body(
        service.CreateDeployment,
        name=str(form.get("name") or "").strip(),
        model=model,
        version=version,
        hardware=str(form.get("hardware") or "cpu"),
        min_instances=_int(form, "min_instances"),
        max_instances=_int(form, "max_instances"),
    )
    view = await service.create_deployment(platform, viewer, body)
    return RedirectResponse(f"/deployments/{view.ref}", status_code=303)


@router.get("/deployments/{owner}/{name}")
async def detail(owner: str, name: str, request: Request, viewer: SignedIn) -> Response:
    platform = platform_of(request)
    view = await service.get_deployment(platform, viewer, owner, name)
    shown = service.render_deployment(view)
    model_owner, _, model_name = shown["current_release"]["model"].partition("/")
    versions, _ = await models_service.list_versions(
        platform, viewer, model_owner, model_name, cursor=None
    )
    return page(
        request,
        "deployment.html",
        d=shown,
        versions=[v["id"] for v in versions if v["status"] == "ready"],
        instances=await _instances(platform, viewer, view.ref),
        hardware=_hardware(platform),
    )


@router.get("/deployments/{owner}/{name}/instances")
async def instances(owner: str, name: str, request: Request, viewer: SignedIn) -> Response:
    """The live instance table, refreshed by the page's script."""
    platform = platform_of(request)
    view = await service.get_deployment(platform, viewer, owner, name)
    rows = await _instances(platform, viewer, view.ref)
    return HTMLResponse(fragment("_instances.html", instances=rows))


@router.post("/deployments/{owner}/{name}")
async def update(
    owner: str, name: str, request: Request, viewer: SignedIn, _c: Checked
) -> Response:
    platform = platform_of(request)
    form = await request.form()
    body = _body(
        service.UpdateDeployment,
        version=str(form.get("version") or "") or None,
        hardware=str(form.get("hardware") or "") or None,
        min_instances=_int(form, "min_instances"),
        max_instances=_int(form, "max_instances"),
    )
    view = await service.update_deployment(platform, viewer, owner, name, body)
    return RedirectResponse(f"/deployments/{view.ref}", status_code=303)
