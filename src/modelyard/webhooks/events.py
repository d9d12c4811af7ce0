"""Which webhook events a prediction asked for, and the 500 ms throttle on `output`/`logs`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.core.errors import InvalidInput

EVENTS: tuple[str, ...] = ("start", "output", "logs", "completed")
ALL_EVENTS: frozenset[str] = frozenset(EVENTS)
THROTTLED_EVENTS: frozenset[str] = frozenset({"output", "logs"})
THROTTLE_INTERVAL = 0.5

_FILTER_FIELD = "webhook_events_filter"


def parse_events_filter(value: object) -> frozenset[str]:
    """The events named by a request's `webhook_events_filter`.

    `None` or an empty list mean all four events. Raises InvalidInput when the value is not a
    list of names from `start`, `output`, `logs`, `completed`.
    """
    if value is None:
        return ALL_EVENTS
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidInput(f"{_FILTER_FIELD} must be a list of event names: {_choices()}")
    if not all(isinstance(name, str) and name in ALL_EVENTS for name in value):
        raise InvalidInput(f"{_FILTER_FIELD} may only contain {_choices()}")
    return frozenset(value) or ALL_EVENTS


def _choices() -> str:
    return ", ".join(EVENTS)


@dataclass
class _State:
    last_sent: float
    pending: bool = False


class Throttle:
    """Decides, per prediction, when a webhook delivery may go.

    `start` and `completed` always go now. `output` and `logs` go at most once per `interval`
    seconds, counted from the prediction's last delivery of any kind; a change that has to wait
    is remembered, and `take_due` releases one trailing delivery once `due_at` has passed. Each
    delivery carries the whole prediction, so one trailing delivery covers every change before
    it. `completed` forgets the prediction.

        throttle = Throttle()
        if throttle.offer(prediction_id, "output"):
            send_now()
        elif (when := throttle.due_at(prediction_id)) is not None:
            ...  # at `when`, `if throttle.take_due(prediction_id): send_now()`
    """

    def __init__(
        self, interval: float = THROTTLE_INTERVAL, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._states: dict[str, _State] = {}

    def offer(self, prediction_id: str, event: str) -> bool:
        """Record `event` for the prediction; True when a delivery should be sent now.

        Raises ValueError for a name outside `start`, `output`, `logs`, `completed`.
        """
        if event not in ALL_EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        now = self._clock()
        if event == "completed":
            self._states.pop(prediction_id, None)
            return True
        state = self._states.get(prediction_id)
        if event in THROTTLED_EVENTS and state is not None:
            if now < state.last_sent + self.interval:
                state.pending = True
                return False
        self._states[prediction_id] = _State(last_sent=now)
        return True

    def due_at(self, prediction_id: str) -> float | None:
        """Clock time at which the pending delivery may go; None when nothing is pending."""
        state = self._states.get(prediction_id)
        if state is None or not state.pending:
            return None
        return state.last_sent + self.interval

    def take_due(self, prediction_id: str) -> bool:
        """True, counting it as sent, when a pending delivery's time has come."""
        due = self.due_at(prediction_id)
        now = self._clock()
        if due is None or now < due:
            return False
        self._states[prediction_id] = _State(last_sent=now)
        return True

    def sent(self, prediction_id: str) -> None:
        """A delivery goes out now (its payload took a while to render): the next window
        counts from here, so deliveries are never closer than `interval` when they leave."""
        state = self._states.get(prediction_id)
        if state is not None:
            state.last_sent = max(state.last_sent, self._clock())

    def forget(self, prediction_id: str) -> None:
        """Drop the prediction's state, e.g. when it is deleted without completing."""
        self._states.pop(prediction_id, None)
