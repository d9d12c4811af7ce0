"""The error tree of modelyard; `api/problems.py` turns each into problem+json.

    ModelyardError
    ├── BadRequest (400)
    ├── Unauthenticated (401)
    ├── BillingRequired (402)
    ├── LimitReached (403)          an account holds all the tokens/deployments it may
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── InvalidInput (422)          input that does not match a version's schema
    │   └── InvalidVersion (422)    "Invalid version or not permitted"
    ├── RateLimited (429)
    ├── BuildError (400)            a model directory that cannot become a version
    ├── InstanceError (500)         a model instance that crashed or could not start
    └── ServiceUnavailable (503)

A `detail` never echoes user input back; it names the field and says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ModelyardError(Exception):
    """Base of every error the platform reports to a user."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, detail={self.detail!r})"

    def to_problem(self) -> dict[str, Any]:
        """The problem+json body for this error."""
        return {"title": self.title, "detail": self.detail, "status": self.status, **self.extra}


class BadRequest(ModelyardError):
    status = 400
    title = "Bad Request"


class Unauthenticated(ModelyardError):
    status = 401
    title = "Unauthenticated"

    def __init__(self, detail: str = "You did not pass a valid authentication token") -> None:
        super().__init__(detail)


class BillingRequired(ModelyardError):
    status = 402
    title = "Billing required"


class LimitReached(ModelyardError):
    """An account already holds as much as the operator allows; retrying will not help."""

    status = 403
    title = "Account limit reached"


class NotFound(ModelyardError):
    status = 404
    title = "Not found"


class Conflict(ModelyardError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(ModelyardError):
    status = 413
    title = "Payload too large"


class InvalidInput(ModelyardError):
    """Input rejected before anything was queued; `errors` name each bad field."""

    status = 422
    title = "Input validation failed"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail, extra={"errors": errors} if errors else None)
        self.errors = errors or []


class InvalidVersion(InvalidInput):
    title = "Invalid version or not permitted"

    def __init__(
        self,
        detail: str = (
            "The specified version does not exist (or perhaps you don't have permission to use it?)"
        ),
    ) -> None:
        super().__init__(detail)


class RateLimited(ModelyardError):
    status = 429
    title = "Too Many Requests"


class BuildError(ModelyardError):
    """A model directory that cannot be turned into a runnable version."""

    status = 400
    title = "Build failed"

    def __init__(self, detail: str, *, logs: str = "") -> None:
        super().__init__(detail)
        self.logs = logs


class InstanceError(ModelyardError):
    """A model instance that crashed, failed setup or could not be started."""

    status = 500
    title = "Model instance error"


class ServiceUnavailable(ModelyardError):
    status = 503
    title = "Service Unavailable"
