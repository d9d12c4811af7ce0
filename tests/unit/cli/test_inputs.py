"""`modelyard run` inputs typed by a version's schema, as `cog predict -i` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.cli._inputs import InputError, InputSchema, json_input

OPENAPI = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    "words": {"type": "array", "items": {"type": "string"}},
                    "n": {"allOf": [{"$ref": "#/components/schemas/n"}], "default": 3},
                    "value": {
                        "anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]
                    },
                    "ratio": {"type": "number"},
                    "flag": {"type": "boolean"},
                    "text": {"type": "string"},
                },
            },
            "n": {"title": "n", "enum": [3, 4, 5], "type": "integer"},
        }
    }
}


@pytest.fixture
def schema() -> InputSchema:
    return InputSchema(OPENAPI)


def test_values_take_the_schemas_types(schema: InputSchema) -> None:
    parsed = schema.parse(["n=4", "ratio=2", "flag=true", "text=007"])
    assert parsed == {"n": 4, "ratio": 2.0, "flag": True, "text": "007"}
    assert isinstance(parsed["ratio"], float)


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("1.5", 1.5), ("one", "one")])
def test_a_union_takes_the_first_member_the_text_parses_as(
    schema: InputSchema, text: str, value: object
) -> None:
    parsed = schema.parse([f"value={text}"])["value"]
    assert parsed == value and type(parsed) is type(value)


def test_repeated_keys_build_a_list_and_one_value_is_a_list_of_one(
    schema: InputSchema, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    parsed = schema.parse([f"files=@{tmp_path / 'a.txt'}", f"files=@{tmp_path / 'a.txt'}"])
    assert [f.split(",")[0] for f in parsed["files"]] == ["data:text/plain;base64"] * 2
    assert schema.parse(["words=world"]) == {"words": ["world"]}
    assert schema.parse(['words=["a", "b"]']) == {"words": ["a", "b"]}


def test_unknown_names_and_bad_values_are_refused(schema: InputSchema) -> None:
    with pytest.raises(InputError, match='unknown input "nope"'):
        schema.parse(["nope=1", "n=3"])
    with pytest.raises(InputError, match="n must be of type integer"):
        schema.parse(["n=three"])
    with pytest.raises(InputError, match="takes one value"):
        schema.parse(["text=a", "text=b"])
    with pytest.raises(InputError, match="key=value"):
        schema.parse(["novalue"])


def test_json_input_inline_or_from_a_file(schema: InputSchema, tmp_path: Path) -> None:
    assert json_input('{"n": 5}') == {"n": 5}
    (tmp_path / "in.json").write_text('{"words": ["x"]}')
    assert json_input(f"@{tmp_path / 'in.json'}") == {"words": ["x"]}
    with pytest.raises(InputError):
        json_input("[1, 2]")
    with pytest.raises(InputError, match='unknown input "nope"'):
        schema.with_files({"nope": 1})


def test_a_model_still_building_takes_inputs_as_given() -> None:
    assert InputSchema(None).parse(["anything=1", "anything=2"]) == {"anything": ["1", "2"]}
