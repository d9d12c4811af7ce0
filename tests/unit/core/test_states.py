from __future__ import annotations

import pytest

from modelyard.core.errors import Conflict
from modelyard.core.states import Status, can_transition, transition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("starting", "processing"),
        ("processing", "succeeded"),
        ("processing", "failed"),
        ("processing", "canceled"),
        ("starting", "failed"),
        ("starting", "canceled"),
    ],
)
def test_allowed(current: str, target: str) -> None:
    assert transition(current, target) == Status(target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("succeeded", "processing"),
        ("failed", "succeeded"),
        ("canceled", "starting"),
        ("processing", "starting"),
    ],
)
def test_refused(current: str, target: str) -> None:
    assert not can_transition(current, target)
    with pytest.raises(Conflict):
        transition(current, target)


def test_terminal() -> None:
    assert {s for s in Status if s.terminal} == {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}
