from __future__ import annotations

import modelyard.builder as builder
from modelyard.builder.openapi import Fragments, openapi_document

PREDICT = Fragments(
    input={
        "title": "Input",
        "type": "object",
        "properties": {
            "mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "x-order": 0},
            "x": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X", "x-order": 1},
        },
    },
    enums={"mode": {"title": "mode", "enum": ["a", "b"], "type": "string"}},
    output={"title": "Output", "type": "string"},
)


def test_nullable_any_of_and_ref_titles_are_fixed() -> None:
    doc = openapi_document(PREDICT, cog_version="0.23.1")
    props = doc["components"]["schemas"]["Input"]["properties"]
    assert props["x"] == {"title": "X", "type": "string", "nullable": True, "x-order": 1}
    assert doc["components"]["schemas"]["mode"]["enum"] == ["a", "b"]
    request = doc["components"]["schemas"]["PredictionRequest"]["properties"]["input"]
    assert request == {"$ref": "#/components/schemas/Input"}


def test_training_is_merged_without_overriding_prediction() -> None:
    train = Fragments(
        input={"title": "Input", "type": "object", "properties": {}},
        enums={"mode": {"title": "mode", "enum": ["other"], "type": "string"}},
        output={"title": "Output", "type": "object"},
    )
    doc = openapi_document(PREDICT, train, cog_version="0.23.1")
    schemas = doc["components"]["schemas"]
    assert schemas["TrainingInput"]["title"] == "TrainingInput"
    assert schemas["mode"]["enum"] == ["a", "b"]  # the prediction's enum wins, as in Go
    assert doc["paths"]["/trainings"]["post"]["operationId"] == "train_trainings_post"
    cancel = doc["paths"]["/trainings/{training_id}/cancel"]["post"]
    assert cancel["parameters"][0]["schema"] == {"title": "Training Id", "type": "string"}
    assert doc["paths"]["/predictions"]["post"]["x-cog-streaming"] is True
    assert PREDICT.input["properties"]["x"]["anyOf"]  # the fragments were not mutated


def test_public_names_are_importable() -> None:
    for name in builder.__all__:
        assert getattr(builder, name) is not None
