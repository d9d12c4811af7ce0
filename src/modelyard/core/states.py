"""The prediction state machine: every status change goes through `transition`.

starting ──▶ processing ──▶ succeeded | failed | canceled
    └──────────────────────▶ failed | canceled
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modelyard.core.errors import Conflict


class Status(StrEnum):
    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED})


@dataclass(frozen=True)
class Rule:
    """A named transition: allowed from these states to these."""

    name: str
    from_states: frozenset[Status]
    to_states: frozenset[Status]


RULES: tuple[Rule, ...] = (
    Rule("start", frozenset({Status.STARTING}), frozenset({Status.PROCESSING})),
    Rule(
        "finish",
        frozenset({Status.PROCESSING}),
        frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED}),
    ),
    Rule(
        "abandon",
        frozenset({Status.STARTING}),
        frozenset({Status.FAILED, Status.CANCELED}),
    ),
    # A model can finish so fast that its terminal event is the first we see.
    Rule("complete-directly", frozenset({Status.STARTING}), frozenset({Status.SUCCEEDED})),
)


def find_rule(current: Status, target: Status) -> Rule | None:
    for rule in RULES:
        if current in rule.from_states and target in rule.to_states:
            return rule
    return None


def can_transition(current: Status | str, target: Status | str) -> bool:
    return find_rule(Status(current), Status(target)) is not None


def transition(current: Status | str, target: Status | str) -> Status:
    """Return `target` if the move from `current` is allowed; raise Conflict otherwise."""
    cur, tgt = Status(current), Status(target)
    if find_rule(cur, tgt) is None:
        raise Conflict(f"A prediction cannot move from {cur.value} to {tgt.value}.")
    return tgt
