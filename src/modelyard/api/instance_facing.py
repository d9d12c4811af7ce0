"""The part of the API sandboxed model instances reach, through their relay socket."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

# Output uploads and trainings' webhooks (with the instance's token) and signed input-file
# downloads: nothing else.
PATHS = ("/internal/uploads/", "/internal/events/", "/v1/deliveries/")
_NOT_FOUND = json.dumps(
    {"title": "Not found", "detail": "Not available to model instances.", "status": 404}
).encode()


def instance_facing(app: ASGIApp, also: tuple[str, ...] = ()) -> ASGIApp:
    """`app` limited to the routes model instances use (and the paths in `also`, such as a
    worker's `/health`); any other path is a 404."""
    paths = PATHS + also

    async def facing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(paths):
            await app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/problem+json")],
            }
        )
        await send({"type": "http.response.body", "body": _NOT_FOUND})

    return facing
