"""Weights recorded on a pushed version (`?weights=` / `models import --weights`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.builder import bundle_digest
from modelyard.core.errors import BadRequest
from modelyard.services.versions import _record_weights, check_weights, recorded_weights


def test_check_weights_strips_and_drops_empty_values() -> None:
    assert check_weights("  /data/sdxl \n") == "/data/sdxl"
    assert check_weights("") is None and check_weights(None) is None


@pytest.mark.parametrize("bad", ["a\nb", "x" * 5000, "tab\there"])
def test_check_weights_refuses_what_cannot_be_one_env_value(bad: str) -> None:
    with pytest.raises(BadRequest):
        check_weights(bad)


def test_other_weights_make_another_version(tmp_path: Path) -> None:
    def source(name: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "cog.yaml").write_text('run: "predict.py:Runner"\n')
        return root

    plain = bundle_digest(source("plain"))
    first = _record_weights(source("a"), "https://example.com/a.tar")
    again = _record_weights(source("b"), "https://example.com/a.tar")
    other = _record_weights(source("c"), "/data/other")
    assert len({plain, first, other}) == 3 and first == again
    assert recorded_weights(tmp_path / "c") == "/data/other"
    assert recorded_weights(tmp_path / "plain") is None
