"""The pages' own script, stylesheet and icon: served by modelyard, never from a CDN."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modelyard.web.render import HERE

router = APIRouter(include_in_schema=False)

FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    if name not in FILES:
        raise HTTPException(404)
    body = (HERE / "static" / name).read_bytes()
    return Response(body, media_type=FILES[name], headers={"Cache-Control": "public, max-age=300"})
