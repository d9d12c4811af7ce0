"""Pages: API tokens (create, shown once; list; revoke) and usage with its daily chart."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from modelyard.services import accounts as accounts_service
from modelyard.services import billing as billing_service
from modelyard.web._route import PageRoute
from modelyard.web.charts import stacked_bars
from modelyard.web.render import page
from modelyard.web.security import Checked, SignedIn, platform_of

router = APIRouter(route_class=PageRoute)


@router.get("/tokens")
async def tokens_page(request: Request, viewer: SignedIn, created: str | None = None) -> Response:
    tokens = await accounts_service.list_tokens(platform_of(request), viewer)
    return page(request, "tokens.html", tokens=list(reversed(tokens)), created=created)


@router.post("/tokens")
async def create_token(request: Request, viewer: SignedIn, _c: Checked) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()[:100] or None
    body = accounts_service.CreateToken(name=name)
    created = await accounts_service.create_token(platform_of(request), viewer, body)
    # Shown in this answer only: a reload or the list never shows it again.
    return await tokens_page(request, viewer, created=created["token"])


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request, viewer: SignedIn, _c: Checked) -> Response:
    await accounts_service.revoke_token(platform_of(request), viewer, str(token_id))
    return RedirectResponse("/tokens", status_code=303)


@router.get("/usage")
async def usage_page(request: Request, viewer: SignedIn) -> Response:
    platform = platform_of(request)
    start, end = request.query_params.get("start"), request.query_params.get("end")
    by_model = await billing_service.usage(platform, viewer, start=start, end=end, group_by="model")
    daily = await billing_service.daily_usage_by_model(platform, viewer, start=start, end=end)
    balance = await billing_service.balance(platform, viewer.id)
    return page(
        request,
        "usage.html",
        usage=by_model,
        chart=stacked_bars(daily),
        balance=balance,
        start=start or "",
        end=end or "",
    )
