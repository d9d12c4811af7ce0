from __future__ import annotations

import pytest

from modelyard.core.errors import InvalidInput
from modelyard.core.validation import InputSchema

SCHEMA = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "title": "Input",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
                    "n": {
                        "type": "integer",
                        "default": 3,
                        "minimum": 1,
                        "maximum": 10,
                        "x-order": 1,
                    },
                    "color": {
                        "allOf": [{"$ref": "#/components/schemas/color"}],
                        "default": "red",
                        "x-order": 2,
                    },
                    "image": {"type": "string", "format": "uri", "x-order": 3},
                    "images": {
                        "type": "array",
                        "items": {"type": "string", "format": "uri"},
                        "x-order": 4,
                    },
                    "key": {
                        "type": "string",
                        "format": "password",
                        "x-cog-secret": True,
                        "writeOnly": True,
                        "x-order": 5,
                    },
                    "seed": {"type": "integer", "nullable": True, "x-order": 6},
                },
            },
            "color": {"title": "color", "enum": ["red", "green"], "type": "string"},
        }
    }
}


@pytest.fixture
def schema() -> InputSchema:
    return InputSchema.from_openapi(SCHEMA)


def test_valid_input_passes_and_drops_unknown_keys(schema: InputSchema) -> None:
    assert schema.clean({"prompt": "hi", "n": 2, "nope": 1}) == {"prompt": "hi", "n": 2}


def test_null_for_optional_field_is_omitted(schema: InputSchema) -> None:
    assert schema.clean({"prompt": "hi", "seed": None}) == {"prompt": "hi"}


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({}, "prompt", "is required"),
        ({"prompt": 1}, "prompt", "type string"),
        ({"prompt": "a", "n": 11}, "n", "less than or equal to 10"),
        ({"prompt": "a", "n": 0}, "n", "greater than or equal to 1"),
        ({"prompt": "a", "color": "blue"}, "color", "one of: red, green"),
        ({"prompt": "a", "image": "/etc/passwd"}, "image", "must be a URL"),
        (
            {"prompt": "a", "images": ["https://x/y.png", "file:///etc/passwd"]},
            "images",
            "must be a URL",
        ),
    ],
)
def test_each_bad_field_is_named(
    schema: InputSchema, payload: dict, field: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        schema.clean(payload)
    assert [e["field"] for e in info.value.errors] == [field]
    assert fragment in info.value.errors[0]["message"]


def test_errors_never_echo_the_value(schema: InputSchema) -> None:
    with pytest.raises(InvalidInput) as info:
        schema.clean({"prompt": "a", "n": 987654321})
    assert "987654321" not in info.value.detail


def test_all_bad_fields_reported_at_once(schema: InputSchema) -> None:
    with pytest.raises(InvalidInput) as info:
        schema.clean({"n": "x", "color": "blue"})
    assert {e["field"] for e in info.value.errors} == {"prompt", "n", "color"}


def test_field_kinds(schema: InputSchema) -> None:
    assert schema.secret_fields == ["key"]
    assert set(schema.file_fields) == {"image", "images"}


def test_urls_accepted_for_files(schema: InputSchema) -> None:
    for url in ("https://example.com/a.png", "http://h/x", "data:image/png;base64,AAAA"):
        assert schema.clean({"prompt": "a", "image": url})["image"] == url


@pytest.mark.parametrize("name", ["prompt", "n", "color", "image"])
def test_null_for_a_field_that_is_not_optional_is_refused(schema: InputSchema, name: str) -> None:
    payload = {"prompt": "hi", name: None}
    with pytest.raises(InvalidInput) as caught:
        schema.clean(payload)
    assert caught.value.errors == [
        {"field": name, "message": "must not be null (it is not Optional)"}
    ]
    assert name in caught.value.detail


def test_null_in_an_any_of_with_null_is_optional() -> None:
    prop = {"anyOf": [{"type": "string"}, {"type": "null"}], "x-order": 0}
    openapi = {"components": {"schemas": {"Input": {"type": "object", "properties": {"s": prop}}}}}
    assert InputSchema.from_openapi(openapi).clean({"s": None}) == {}
