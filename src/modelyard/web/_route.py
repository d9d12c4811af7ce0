"""The route class of every page: HTML errors, sign-in redirects, cookies, no OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.core.errors import ModelyardError
from modelyard.web.render import page
from modelyard.web.security import CSRF_COOKIE, CsrfRefused, SignInRequired, login_url

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """Turns the platform's errors into pages instead of problem+json."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["include_in_schema"] = False
        super().__init__(*args, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = RedirectResponse(login_url(request), status_code=303)
            except CsrfRefused:
                response = page(
                    request,
                    "error.html",
                    status=403,
                    title="Refused",
                    detail="This form was not sent from a page of this site (its security "
                    "token is missing or wrong). Reload the page and try again.",
                )
            except ModelyardError as exc:
                if _wants_json(request):
                    raise
                title = "Not found" if exc.status == 404 else exc.title
                response = page(
                    request, "error.html", status=exc.status, title=title, detail=exc.detail
                )
            seed = getattr(request.state, "new_csrf_seed", None)
            if seed:
                response.set_cookie(
                    CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=_secure(request)
                )
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            return response

        return run


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"
