"""The domain: ids, the prediction state machine, JSON shapes, input validation. No I/O."""

from modelyard.core.errors import (
    BadRequest,
    BillingRequired,
    BuildError,
    Conflict,
    InstanceError,
    InvalidInput,
    InvalidVersion,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from modelyard.core.states import TERMINAL, Status, can_transition, transition
from modelyard.core.validation import InputField, InputSchema

__all__ = [
    "BadRequest",
    "BillingRequired",
    "BuildError",
    "Conflict",
    "InputField",
    "InputSchema",
    "InstanceError",
    "InvalidInput",
    "InvalidVersion",
    "ModelyardError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "Status",
    "TERMINAL",
    "Unauthenticated",
    "can_transition",
    "transition",
]
