"""`-i key=value` and `--json` inputs typed by a version's schema, as `cog predict` reads them.

Repeated keys build a list; one value for a list input becomes a one-element list; each value
takes the schema's type (choices included); for a union the first member the text parses as
wins; `@path` is a file, sent as a data URL. Unknown input names are refused before sending.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """An input the command line cannot turn into what the model expects."""


class InputSchema:
    """The `Input` properties of a version's OpenAPI schema, with `$ref`s resolved."""

    def __init__(self, openapi: Mapping[str, Any] | None) -> None:
        self.known = openapi is not None  # None: not built yet, inputs go as given
        openapi = openapi or {}
        self._schemas: Mapping[str, Any] = openapi.get("components", {}).get("schemas", {})
        self.properties: dict[str, Any] = dict(self._schemas.get("Input", {}).get("properties", {}))

    def resolve(self, prop: Mapping[str, Any]) -> Mapping[str, Any]:
        """`prop` with a `$ref` (or cog's `allOf: [$ref]` for choices) laid open."""
        ref = prop.get("$ref")
        if isinstance(ref, str):
            return {**self._schemas.get(ref.rsplit("/", 1)[-1], {}), **_without(prop, "$ref")}
        all_of = prop.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            return {**self.resolve(all_of[0]), **_without(prop, "allOf")}
        return prop

    def parse(self, pairs: list[str]) -> dict[str, Any]:
        """The input for `-i key=value` pairs; raises InputError naming what is wrong."""
        raw: dict[str, list[str]] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise InputError(f"Inputs are key=value; got {pair!r}.")
            raw.setdefault(key, []).append(value)
        self.check_names(raw)
        return {key: self.typed(key, values) for key, values in raw.items()}

    def with_files(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`--json` input with `"@path"` values of file inputs read as data URLs."""
        self.check_names(values)
        return {key: self._files(key, value) for key, value in values.items()}

    def _files(self, key: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self._files(key, v) for v in value]
        is_file = _is_file(self.properties.get(key, {"format": "uri"}))
        if isinstance(value, str) and value.startswith("@") and is_file:
            return _data_url(key, Path(value[1:]))
        return value

    def check_names(self, names: Mapping[str, Any]) -> None:
        unknown = [n for n in names if n not in self.properties] if self.known else []
        if unknown:
            known = ", ".join(self.properties) or "none"
            quoted = ", ".join(f'"{n}"' for n in unknown)
            raise InputError(f"unknown input {quoted} (the model's inputs: {known})")

    def typed(self, key: str, values: list[str]) -> Any:
        if key not in self.properties:  # no schema yet: text as given, repeated keys a list
            return values if len(values) > 1 else self._scalar(key, values[0], {})
        prop = self.resolve(self.properties[key])
        if _type_of(prop) == "array":
            items = self.resolve(prop.get("items") or {})
            if len(values) == 1 and values[0].lstrip().startswith("["):
                parsed = _json(key, values[0])
                if isinstance(parsed, list):
                    return parsed
            return [self._scalar(key, v, items) for v in values]
        if len(values) > 1:
            raise InputError(f"Input {key} takes one value, not a list.")
        return self._scalar(key, values[0], prop)

    def _scalar(self, key: str, text: str, prop: Mapping[str, Any]) -> Any:
        if text.startswith("@"):
            return _data_url(key, Path(text[1:]))
        members = prop.get("anyOf") or prop.get("oneOf")
        if isinstance(members, list):  # a union: the first member the text parses as
            for member in members:
                try:
                    return _convert(text, self.resolve(member))
                except (ValueError, InputError):
                    continue
            raise InputError(f"Input {key} must be one of the types of its union.")
        try:
            return _convert(text, prop)
        except (ValueError, InputError) as exc:
            raise InputError(f"Input {key} must be of type {_type_of(prop)}.") from exc


def _convert(text: str, prop: Mapping[str, Any]) -> Any:
    kind = _type_of(prop)
    converters: dict[str, Callable[[str], Any]] = {
        "integer": int,
        "number": float,
        "boolean": _boolean,
        "array": json.loads,
        "object": json.loads,
        "null": _null,
    }
    value = converters.get(kind or "", str)(text)
    if kind == "number" and not isinstance(value, float):
        value = float(value)
    return value


def _type_of(prop: Mapping[str, Any]) -> str | None:
    kind = prop.get("type")
    if isinstance(kind, str):
        return kind
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:  # choices without a type: the type of the choices
        if all(isinstance(v, bool) for v in enum):
            return "boolean"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in enum):
            return "integer"
        if all(isinstance(v, (int, float)) for v in enum):
            return "number"
    return None


def _is_file(prop: Mapping[str, Any]) -> bool:
    items = prop.get("items")
    return prop.get("format") == "uri" or (isinstance(items, Mapping) and _is_file(items))


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return lowered in ("true", "1", "yes")


def _null(text: str) -> None:
    if text not in ("null", "None", ""):
        raise ValueError(text)


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"Input {key} is not valid JSON.") from exc


def _data_url(key: str, path: Path) -> str:
    if not path.is_file():
        raise InputError(f"Input {key}: the file {path} does not exist.")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _without(prop: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k != key}


def json_input(text: str) -> dict[str, Any]:
    """`--json '{...}'` or `--json @file.json`: the whole input at once."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise InputError(f"--json: the file {path} does not exist.")
        text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(f"--json must be a JSON object: {exc.args[0]}") from exc
    if not isinstance(value, dict):
        raise InputError("--json must be a JSON object of inputs.")
    return value
