"""Event buses: a prediction's events fanned out to streams, webhooks and waiters."""

from modelyard.events.base import DONE, ERROR, LOGS, OUTPUT, STATUS, Event, EventBus
from modelyard.events.local import LocalEventBus

__all__ = ["DONE", "ERROR", "LOGS", "OUTPUT", "STATUS", "Event", "EventBus", "LocalEventBus"]
