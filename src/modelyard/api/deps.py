"""Dependencies shared by the routes: the platform, the caller's account, URL building, JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from modelyard.accounts import Account, parse_authorization, take_request, throttled
from modelyard.api.limits import parse_json
from modelyard.core.errors import BadRequest, InvalidInput, Unauthenticated
from modelyard.services.platform import Platform
from modelyard.services.urls import Urls

# POSTs that create a prediction or training (the OpenAI-compatible routes create one each).
CREATE_PATHS = ("/predictions", "/trainings", "/completions", "/embeddings")


def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


async def _platform(request: Request) -> Platform:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    return get_platform(request)


PlatformDep = Annotated[Platform, Depends(_platform)]


async def get_account(request: Request, platform: PlatformDep) -> Account:
    token = parse_authorization(request.headers.get("authorization"))
    if token is None:
        raise Unauthenticated()
    account = await platform.authenticator.authenticate(token)
    if account is None:
        raise Unauthenticated()
    request.state.account = account
    await check_rate_limit(request, platform, account)
    return account


async def check_rate_limit(request: Request, platform: Platform, account: Account) -> None:
    """Take one request from the token's and the account's buckets (creates and the rest
    apart); 429 when either is empty, and then neither is charged.

    The decision goes to `request.state.ratelimit`, which `ratelimits.RateLimitHeaders` turns
    into `ratelimit-remaining` / `ratelimit-reset` headers on the response.
    """
    create = request.method == "POST" and request.url.path.endswith(CREATE_PATHS)
    decision = await take_request(
        platform.rate_limiter,
        platform.rate_limits,
        "create" if create else "other",
        account.id,
        account.token_id,
    )
    request.state.ratelimit = decision
    if not decision.allowed:
        raise throttled(decision)


CurrentAccount = Annotated[Account, Depends(get_account)]


async def get_urls(request: Request, platform: PlatformDep) -> Urls:
    return platform.urls(str(request.base_url))


UrlsDep = Annotated[Urls, Depends(get_urls)]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return parse_json(raw, get_platform(request).settings.max_json_depth)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc


T = TypeVar("T", bound=BaseModel)


def parse_body(model: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidInput(f"Invalid request: {detail}", errors) from exc
