from __future__ import annotations

import pytest

from modelyard.core.errors import InvalidInput
from modelyard.webhooks.events import ALL_EVENTS, Throttle, parse_events_filter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(clock: FakeClock) -> Throttle:
    return Throttle(clock=clock)


def test_filter_defaults_to_all_events() -> None:
    assert parse_events_filter(None) == ALL_EVENTS == {"start", "output", "logs", "completed"}
    assert parse_events_filter([]) == ALL_EVENTS


def test_filter_keeps_the_named_subset() -> None:
    assert parse_events_filter(["completed"]) == {"completed"}
    assert parse_events_filter(["start", "logs", "logs"]) == {"start", "logs"}


@pytest.mark.parametrize("value", [["completed", "finished"], "completed", [1], {"start": 1}])
def test_filter_refuses_unknown_names_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_events_filter(value)
    assert "webhook_events_filter" in info.value.detail
    assert "finished" not in info.value.detail


def test_start_and_completed_always_go(throttle: Throttle) -> None:
    assert throttle.offer("p1", "start")
    assert throttle.offer("p1", "completed")
    assert throttle.offer("p1", "start")


def test_first_output_goes_then_is_throttled(throttle: Throttle, clock: FakeClock) -> None:
    assert throttle.offer("p1", "output")
    assert throttle.due_at("p1") is None
    clock.now += 0.1
    assert not throttle.offer("p1", "output")
    assert not throttle.offer("p1", "logs")
    assert throttle.due_at("p1") == pytest.approx(100.5)


def test_pending_change_is_sent_once_the_window_passes(
    throttle: Throttle, clock: FakeClock
) -> None:
    throttle.offer("p1", "output")
    clock.now += 0.2
    throttle.offer("p1", "logs")
    assert not throttle.take_due("p1")
    clock.now = 100.5
    assert throttle.take_due("p1")
    assert not throttle.take_due("p1")
    assert throttle.due_at("p1") is None
    clock.now += 0.1
    assert not throttle.offer("p1", "output")
    assert throttle.due_at("p1") == pytest.approx(101.0)


def test_output_after_the_window_goes_now(throttle: Throttle, clock: FakeClock) -> None:
    throttle.offer("p1", "output")
    clock.now += 0.5
    assert throttle.offer("p1", "output")


def test_start_counts_towards_the_window(throttle: Throttle, clock: FakeClock) -> None:
    throttle.offer("p1", "start")
    clock.now += 0.1
    assert not throttle.offer("p1", "output")


def test_completed_clears_a_pending_delivery(throttle: Throttle, clock: FakeClock) -> None:
    throttle.offer("p1", "output")
    throttle.offer("p1", "output")
    assert throttle.offer("p1", "completed")
    assert throttle.due_at("p1") is None
    clock.now += 1
    assert not throttle.take_due("p1")


def test_predictions_are_throttled_independently(throttle: Throttle) -> None:
    assert throttle.offer("p1", "output")
    assert throttle.offer("p2", "output")
    assert not throttle.offer("p1", "output")


def test_forget_drops_state(throttle: Throttle) -> None:
    throttle.offer("p1", "output")
    throttle.offer("p1", "output")
    throttle.forget("p1")
    assert throttle.due_at("p1") is None
    assert throttle.offer("p1", "output")


def test_unknown_event_is_a_programming_error(throttle: Throttle) -> None:
    with pytest.raises(ValueError):
        throttle.offer("p1", "ping")
