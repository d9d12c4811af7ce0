"""The one place a version's input schema becomes a form, and a submitted form becomes input.

`fields(schema)` describes each input as a `FormField` (its widget, bounds, default, help);
the `form.html` macros draw them, and `parse_form` turns the browser's submission back into
the JSON input the API would receive, so validation stays the API's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LONG_TEXT = ("prompt", "text", "system_prompt", "message", "messages", "template", "context")
LONG_DEFAULT = 60  # a default longer than this gets a textarea


@dataclass(frozen=True)
class FormField:
    """One input as the form draws it. `widget` is one of: text, textarea, number, range,
    checkbox, select, file, secret, list, json."""

    name: str
    label: str
    widget: str
    type: str  # the JSON type of the value (or of each item, for lists)
    required: bool = False
    default: Any = None
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    accept: str | None = None
    item: FormField | None = None  # a list's item field
    order: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> str:
        return "1" if self.type == "integer" else "any"

    @property
    def default_text(self) -> str:
        """The default as the input box shows it."""
        if self.default is None:
            return ""
        if self.widget == "json":
            return json.dumps(self.default)
        return str(self.default)

    @property
    def defaults(self) -> list[Any]:
        """A list field's default items (at least one empty row)."""
        return list(self.default) if isinstance(self.default, list) and self.default else [None]


def input_component(openapi: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    schemas = openapi.get("components", {}).get("schemas", {})
    return schemas.get("Input", {"properties": {}}), schemas


def fields(openapi: Mapping[str, Any]) -> list[FormField]:
    """Every input of a version, in `x-order`."""
    component, schemas = input_component(openapi)
    required = set(component.get("required", []))
    result = [
        _field(name, prop, schemas, name in required)
        for name, prop in (component.get("properties") or {}).items()
    ]
    return sorted(result, key=lambda f: (f.order, f.name))


def _resolve(prop: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """A property with the `allOf: [$ref]` cog writes for `choices` merged in."""
    merged = dict(prop)
    for sub in prop.get("allOf") or prop.get("anyOf") or []:
        ref = sub.get("$ref", "") if isinstance(sub, Mapping) else ""
        target = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else sub
        for key, value in target.items():
            if key not in ("title", "description"):
                merged.setdefault(key, value)
    return merged


def _field(
    name: str, prop: Mapping[str, Any], schemas: Mapping[str, Any], required: bool
) -> FormField:
    spec = _resolve(prop, schemas)
    kind = spec.get("type", "string")
    common: dict[str, Any] = dict(
        name=name,
        label=str(prop.get("title") or name.replace("_", " ").capitalize()),
        required=required,
        default=spec.get("default"),
        description=prop.get("description"),
        order=int(prop.get("x-order", 0) or 0),
    )
    if kind == "array":
        item = _field(name, spec.get("items") or {"type": "string"}, schemas, False)
        return FormField(widget="list", type=item.type, item=item, **common)
    return FormField(
        widget=_widget(name, spec),
        type=kind if kind in ("string", "integer", "number", "boolean") else "object",
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        choices=tuple(spec.get("enum") or ()),
        accept=spec.get("x-cog-accept"),
        **common,
    )


def _widget(name: str, spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    if spec.get("enum"):
        return "select"
    if kind == "string":
        if spec.get("format") == "uri":
            return "file"
        if spec.get("x-cog-secret") or spec.get("format") == "password":
            return "secret"
        default = spec.get("default")
        long = isinstance(default, str) and (len(default) > LONG_DEFAULT or "\n" in default)
        return "textarea" if long or name.lower().endswith(LONG_TEXT) else "text"
    if kind in ("integer", "number"):
        bounded = spec.get("minimum") is not None and spec.get("maximum") is not None
        return "range" if bounded else "number"
    if kind == "boolean":
        return "checkbox"
    return "json"


# -- from a submitted form back to input -------------------------------------------------------


class FormErrors(Exception):
    """Values the form could not turn into JSON at all: {field: message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_form(specs: list[FormField], values: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The input from form values (`name` → every value sent under it, files already turned
    into URLs). An empty box means "not given", so the model's default applies.

    Raises FormErrors when a value cannot be read as its type (a word in a number box).
    """
    result: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in specs:
        raw = [v for v in values.get(spec.name, []) if not (isinstance(v, str) and v == "")]
        try:
            if spec.widget == "checkbox":
                if spec.name in values:  # the hidden "false" goes first, the box's "true" last
                    result[spec.name] = values[spec.name][-1] == "true"
            elif spec.widget == "list":
                item = spec.item or spec
                items = [_convert(item, v) for v in raw]
                if items:
                    result[spec.name] = items
            elif raw:
                result[spec.name] = _convert(spec, raw[-1])
        except ValueError as exc:
            errors[spec.name] = str(exc)
    if errors:
        raise FormErrors(errors)
    return result


def _convert(spec: FormField, value: Any) -> Any:
    if not isinstance(value, str) or spec.widget == "file":
        return value
    if spec.type == "integer":
        try:
            return int(value)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if spec.type == "number":
        try:
            return float(value)
        except ValueError:
            raise ValueError("must be a number") from None
    if spec.type == "boolean":
        return value in ("true", "on", "1")
    if spec.widget == "json" or spec.type == "object":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be valid JSON") from None
    if spec.choices and not isinstance(spec.choices[0], str):
        return next((c for c in spec.choices if str(c) == value), value)
    return value
