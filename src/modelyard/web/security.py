"""Who is looking at a page: the session cookie, the CSRF token of every form, sign-in rules."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from modelyard.accounts import Account, check_csrf, csrf_token, read_session, session_account
from modelyard.services.platform import Platform

SESSION_COOKIE = "modelyard_session"
CSRF_COOKIE = "modelyard_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The page needs a signed-in viewer; the route class redirects to the sign-in page."""


class CsrfRefused(Exception):
    """A state change without this browser's CSRF token, or from another site."""


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


async def load_viewer(request: Request) -> Account | None:
    """The signed-in account (or None); also prepares this browser's CSRF token."""
    platform = platform_of(request)
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
        request.state.new_csrf_seed = seed
    request.state.csrf_seed = seed
    request.state.csrf = csrf_token(platform.secret, seed)
    viewer = None
    session = read_session(platform.secret, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        async with platform.db.connect() as conn:
            viewer = await session_account(conn, session)
    request.state.viewer = viewer
    return viewer


Viewer = Annotated[Account | None, Depends(load_viewer)]


async def require_viewer(request: Request, viewer: Viewer) -> Account:
    if viewer is None:
        raise SignInRequired()
    return viewer


SignedIn = Annotated[Account, Depends(require_viewer)]


async def require_csrf(request: Request, viewer: Viewer) -> Account | None:
    """Refuse a state change that lacks the CSRF token or comes from another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and _origin(origin) != _origin(str(request.base_url)):
        raise CsrfRefused()
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    seed = request.cookies.get(CSRF_COOKIE)
    if not check_csrf(platform_of(request).secret, seed, token):
        raise CsrfRefused()
    return viewer


Checked = Annotated[Account | None, Depends(require_csrf)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme) may follow a sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
