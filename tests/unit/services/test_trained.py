"""Versions made by trainings: the training view of a version, and where its weights are."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.core.errors import InvalidInput
from modelyard.services.catalog import VersionInfo
from modelyard.services.trained import as_training, weights_key
from modelyard.services.urls import file_marker

SECRET = b"k" * 32


def version(schemas: dict[str, Any]) -> VersionInfo:
    from modelyard.core.validation import InputSchema

    openapi = {"components": {"schemas": schemas}}
    row = {"openapi_schema": openapi, "train_ref": "train.py:train"}
    return VersionInfo(
        pk=1,
        id="a" * 64,
        model_id=1,
        owner="o",
        name="n",
        visibility="public",
        row=row,
        schema=InputSchema.from_openapi(openapi),
    )


def test_trainings_are_checked_against_training_input() -> None:
    info = version(
        {
            "Input": {"type": "object", "properties": {"prompt": {"type": "string"}}},
            "Output": {
                "type": "array",
                "items": {"type": "string"},
                "x-cog-array-type": "iterator",
            },
            "TrainingInput": {
                "type": "object",
                "required": ["lines"],
                "properties": {
                    "lines": {"type": "string", "format": "uri"},
                    "steps": {"type": "integer", "minimum": 1},
                },
            },
            "TrainingOutput": {"type": "object", "properties": {"weights": {"type": "string"}}},
        }
    )
    training = as_training(info)
    assert not training.is_iterator  # the prediction's streaming output is not the training's
    assert training.schema.clean({"lines": "data:,x", "prompt": "dropped"}) == {"lines": "data:,x"}
    with pytest.raises(InvalidInput) as refused:
        training.schema.clean({"lines": "/etc/passwd", "steps": 0})
    assert "lines" in refused.value.detail and "steps" in refused.value.detail
    assert info.schema.clean({"prompt": "p"}) == {"prompt": "p"}  # the version is unchanged


def test_weights_are_the_platforms_own_stored_files_only() -> None:
    marker = file_marker(SECRET, "predictions/t1/output-1.tar")
    assert weights_key(SECRET, {"weights": marker}) == "predictions/t1/output-1.tar"
    assert weights_key(SECRET, marker) == "predictions/t1/output-1.tar"
    assert weights_key(SECRET, {"weights": "https://example.com/w.tar"}) is None
    forged = file_marker(b"x" * 32, "predictions/other/secret.tar")
    assert weights_key(SECRET, {"weights": forged}) is None
    assert weights_key(SECRET, {"version": "x"}) is None and weights_key(SECRET, None) is None
