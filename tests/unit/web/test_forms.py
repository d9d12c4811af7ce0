"""The form built from a version's schema, and a submitted form turned back into input."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.web import forms
from modelyard.web.charts import stacked_bars
from modelyard.web.render import environment, markdown, output_items

SCHEMA: dict[str, Any] = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "required": ["image", "prompt"],
                "properties": {
                    "prompt": {"type": "string", "title": "Prompt", "x-order": 1},
                    "image": {
                        "type": "string",
                        "format": "uri",
                        "x-order": 0,
                        "description": "A photo.",
                    },
                    "steps": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "default": 20,
                        "x-order": 2,
                    },
                    "scale": {"type": "number", "default": 7.5, "x-order": 3},
                    "fast": {"type": "boolean", "default": False, "x-order": 4},
                    "color": {
                        "allOf": [{"$ref": "#/components/schemas/color"}],
                        "default": "red",
                        "x-order": 5,
                    },
                    "api_key": {
                        "type": "string",
                        "format": "password",
                        "x-cog-secret": True,
                        "x-order": 6,
                    },
                    "words": {"type": "array", "items": {"type": "string"}, "x-order": 7},
                    "sizes": {"type": "array", "items": {"type": "integer"}, "x-order": 8},
                    "name": {"type": "string", "default": "world", "x-order": 9},
                },
            },
            "color": {"type": "string", "enum": ["red", "green"], "title": "color"},
        }
    }
}


def test_fields_follow_x_order_with_a_widget_for_each_kind() -> None:
    specs = forms.fields(SCHEMA)
    assert [(s.name, s.widget) for s in specs] == [
        ("image", "file"),
        ("prompt", "textarea"),
        ("steps", "range"),
        ("scale", "number"),
        ("fast", "checkbox"),
        ("color", "select"),
        ("api_key", "secret"),
        ("words", "list"),
        ("sizes", "list"),
        ("name", "text"),
    ]
    by_name = {s.name: s for s in specs}
    assert by_name["image"].required and by_name["prompt"].required
    assert not by_name["steps"].required and by_name["steps"].default == 20
    assert (by_name["steps"].minimum, by_name["steps"].maximum) == (1, 50)
    assert by_name["color"].choices == ("red", "green") and by_name["color"].default == "red"
    assert by_name["image"].description == "A photo."
    assert by_name["sizes"].item is not None and by_name["sizes"].item.type == "integer"


def test_parse_form_converts_types_and_leaves_empty_boxes_out() -> None:
    specs = forms.fields(SCHEMA)
    values = {
        "image": ["https://example.com/a.jpg"],
        "prompt": ["a cat"],
        "steps": ["30"],
        "scale": [""],
        "fast": ["false", "true"],
        "color": ["green"],
        "api_key": [""],
        "words": ["one", "", "two"],
        "sizes": ["3", "4"],
    }
    assert forms.parse_form(specs, values) == {
        "image": "https://example.com/a.jpg",
        "prompt": "a cat",
        "steps": 30,
        "fast": True,
        "color": "green",
        "words": ["one", "two"],
        "sizes": [3, 4],
    }
    assert forms.parse_form(specs, {"fast": ["false"]}) == {"fast": False}
    with pytest.raises(forms.FormErrors) as failed:
        forms.parse_form(specs, {"steps": ["many"], "sizes": ["1", "x"]})
    assert failed.value.errors == {
        "steps": "must be a whole number",
        "sizes": "must be a whole number",
    }


def test_the_form_template_draws_every_field() -> None:
    macro = environment().get_template("_form.html").module.field  # type: ignore[attr-defined]
    html = "".join(str(macro(spec, {})) for spec in forms.fields(SCHEMA))
    assert 'type="file" id="in-image"' in html
    assert '<textarea id="in-prompt"' in html
    assert 'type="range" id="in-steps-slider" min="1" max="50"' in html
    assert 'type="number" id="in-steps" name="steps" min="1" max="50" step="1" value="20"' in html
    assert 'type="checkbox" id="in-fast"' in html
    assert '<option value="red" selected>' in html
    assert 'type="password" id="in-api_key"' in html
    assert html.count('class="add"') == 2  # the two lists can grow
    assert html.count('<abbr class="req"') == 2
    assert "A photo." in html


def test_outputs_are_shown_by_kind() -> None:
    assert output_items(["Hel", "lo"], iterator=True) == [{"kind": "text", "value": "Hello"}]
    assert output_items("https://h/x/out.png")[0]["kind"] == "image"
    assert (
        output_items("https://h/v1/deliveries/a/b.wav?expiry=1&signature=s")[0]["kind"] == "audio"
    )
    assert output_items("data:video/mp4;base64,AAAA")[0]["kind"] == "video"
    assert output_items("https://h/x/weights.tar")[0] == {
        "kind": "file",
        "value": "https://h/x/weights.tar",
        "name": "weights.tar",
    }
    assert output_items({"a": 1})[0] == {"kind": "json", "value": '{\n  "a": 1\n}'}
    assert output_items(None) == []


def test_usage_chart_stacks_models_per_day() -> None:
    assert stacked_bars({}) is None
    chart = stacked_bars(
        {"2026-01-01": {"a/x": 1.0, "b/y": 3.0}, "2026-01-02": {"a/x": 2.0, "<b>": 0.5}}
    )
    assert chart is not None
    assert [m for m, _ in chart.legend] == ["<b>", "a/x", "b/y"]
    assert chart.svg.count("<rect") == 4
    assert "&lt;b&gt;" in chart.svg and "<b>" not in chart.svg  # names are escaped


def test_readme_markdown_escapes_html_and_maps_the_cover() -> None:
    html = markdown(
        "# Title\n\n![cover](cover.png) ![plot](plot.png)\n\n<script>x()</script>\n\n"
        "[bad](javascript:alert(1))",
        cover="https://h/v1/deliveries/c.png",
    )
    assert "<h1>Title</h1>" in html
    assert '<img src="https://h/v1/deliveries/c.png" alt="cover">' in html
    assert "plot.png" not in html and "plot" in html  # a file beside the README: its alt
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
