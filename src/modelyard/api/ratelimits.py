"""ASGI middleware: `ratelimit-remaining` and `ratelimit-reset` on every authenticated response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimitHeaders:
    """Adds the headers of the decision `deps.check_rate_limit` left in the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state")
                decision = state.get("ratelimit") if state is not None else None
                if decision is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"ratelimit-remaining", str(decision.remaining).encode()),
                        (b"ratelimit-reset", str(decision.reset).encode()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
