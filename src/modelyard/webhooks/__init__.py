"""Webhooks: Standard Webhooks signing, event filters and the 500 ms throttle."""

from __future__ import annotations

from modelyard.webhooks.events import ALL_EVENTS, EVENTS, Throttle, parse_events_filter
from modelyard.webhooks.sender import WebhookSender
from modelyard.webhooks.signing import (
    generate_secret,
    new_message_id,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "ALL_EVENTS",
    "EVENTS",
    "Throttle",
    "WebhookSender",
    "generate_secret",
    "new_message_id",
    "parse_events_filter",
    "sign",
    "signed_headers",
    "verify",
]
