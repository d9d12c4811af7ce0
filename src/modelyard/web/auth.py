"""Pages: sign in (password or API token) and sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from modelyard.accounts import Bucket, RateLimit, issue_session, password_sign_in
from modelyard.web._route import PageRoute
from modelyard.web.render import page
from modelyard.web.security import SESSION_COOKIE, Checked, Viewer, platform_of, safe_next

router = APIRouter(route_class=PageRoute)

# Guessing passwords or tokens: at most this many sign-in attempts per name and per address.
PER_NAME = RateLimit(count=10, period=60)
PER_ADDRESS = RateLimit(count=60, period=60)


@router.get("/login")
async def login_page(request: Request, viewer: Viewer) -> Response:
    return page(request, "login.html", next=safe_next(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request, _viewer: Checked) -> Response:
    platform = platform_of(request)
    form = await request.form()
    username, password, token = (
        str(form.get(k) or "").strip() for k in ("username", "password", "token")
    )
    target = safe_next(str(form.get("next") or "/"))
    address = request.client.host if request.client else "unknown"
    buckets = (
        Bucket(f":name:{username[:64] or '-'}", PER_NAME),
        Bucket(f":ip:{address}", PER_ADDRESS),
    )
    decision = await platform.rate_limiter.hit_all("web-sign-in", buckets)
    if not decision.allowed:
        return page(
            request,
            "login.html",
            status=429,
            next=target,
            username=username,
            error=f"Too many sign-in attempts. Try again in {decision.retry_after} seconds.",
        )
    cookie = None
    if token:
        account = await platform.authenticator.authenticate(token)
        if account is not None and account.type == "user" and account.token_id is not None:
            cookie = issue_session(platform.secret, account.id, token_id=account.token_id)
    elif username and password:
        async with platform.db.connect() as conn:
            found = await password_sign_in(conn, username, password)
        if found is not None:
            cookie = issue_session(platform.secret, found[0].id, password_hash=found[1])
    if cookie is None:
        return page(
            request,
            "login.html",
            status=401,
            next=target,
            username=username,
            error="That did not work: check the username and password, or the API token.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
async def logout(request: Request, _viewer: Checked) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
