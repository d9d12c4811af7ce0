"""Input validation against a version's OpenAPI schema, compiled once per version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from modelyard.core.errors import InvalidInput

URL_SCHEMES = ("http://", "https://", "data:")


@dataclass(frozen=True)
class InputField:
    """What the platform needs to know about one input beyond JSON-schema checks."""

    name: str
    is_file: bool = False  # `format: uri` (cog Path / File), possibly inside a list
    is_secret: bool = False
    required: bool = False
    nullable: bool = False  # `Optional[...]`: null means "not given"


@dataclass
class InputSchema:
    """A compiled `components.schemas.Input`: validate once per version, reuse per request."""

    fields: dict[str, InputField]
    validator: Draft7Validator
    _order: list[str] = field(default_factory=list)

    @classmethod
    def from_openapi(cls, openapi: Mapping[str, Any]) -> InputSchema:
        components = openapi.get("components", {})
        schemas = components.get("schemas", {})
        input_schema = schemas.get("Input", {"type": "object", "properties": {}})
        root = {"$ref": "#/components/schemas/Input", "components": components}
        validator = Draft7Validator(root)
        required = set(input_schema.get("required", []))
        fields: dict[str, InputField] = {}
        for name, prop in input_schema.get("properties", {}).items():
            fields[name] = InputField(
                name=name,
                is_file=_is_uri(prop, schemas),
                is_secret=bool(prop.get("x-cog-secret")) or prop.get("format") == "password",
                required=name in required,
                nullable=_is_nullable(prop),
            )
        order = sorted(fields, key=lambda n: input_schema["properties"][n].get("x-order", 0))
        return cls(fields=fields, validator=validator, _order=order)

    def clean(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the input a model may receive, or raise InvalidInput naming every bad field.

        Unknown keys are dropped (as coglet does); an explicit null for an `Optional` field is
        treated as omitted, and refused for any other field (as coglet refuses it).
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise InvalidInput(
                "The input must be a JSON object.",
                [{"field": "input", "message": "must be an object"}],
            )
        nulls = [k for k, v in raw.items() if v is None and k in self.fields]
        cleaned = {k: v for k, v in raw.items() if k in self.fields and v is not None}
        errors = [
            {"field": k, "message": "must not be null (it is not Optional)"}
            for k in nulls
            if not self.fields[k].nullable
        ]
        errors += [
            _describe(err)
            for err in self.validator.iter_errors(cleaned)
            if not (err.validator == "required" and _field_of(err) in nulls)
        ]
        for name, spec in self.fields.items():
            if spec.is_file and name in cleaned and not _all_urls(cleaned[name]):
                errors.append(
                    {
                        "field": name,
                        "message": "must be a URL: an http(s) URL, a data: URL or a file "
                        "uploaded to /v1/files",
                    }
                )
        if errors:
            errors.sort(
                key=lambda e: self._order.index(e["field"]) if e["field"] in self._order else -1
            )
            names = ", ".join(dict.fromkeys(e["field"] for e in errors))
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise InvalidInput(f"Invalid input ({names}): {detail}", errors)
        return cleaned

    @property
    def secret_fields(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.is_secret]

    @property
    def file_fields(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.is_file]


def _is_uri(prop: Mapping[str, Any], schemas: Mapping[str, Any]) -> bool:
    if prop.get("format") == "uri":
        return True
    items = prop.get("items")
    if isinstance(items, Mapping) and items.get("format") == "uri":
        return True
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in prop.get(key, []) or []:
            if isinstance(sub, Mapping) and _is_uri(_deref(sub, schemas), schemas):
                return True
    return False


def _is_nullable(prop: Mapping[str, Any]) -> bool:
    if prop.get("nullable") is True or prop.get("type") == "null":
        return True
    return any(
        isinstance(sub, Mapping) and _is_nullable(sub) for sub in prop.get("anyOf", []) or []
    )


def _deref(prop: Mapping[str, Any], schemas: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target: Mapping[str, Any] = schemas.get(ref.rsplit("/", 1)[-1], {})
        return target
    return prop


def _all_urls(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(URL_SCHEMES)
    if isinstance(value, list):
        return all(_all_urls(v) for v in value)
    return True  # type errors are reported by the JSON-schema check


def _field_of(err: ValidationError) -> str:
    path = [p for p in err.absolute_path if isinstance(p, str)]
    if path:
        return path[0]
    if err.validator == "required" and isinstance(err.validator_value, Iterable):
        missing = [
            n
            for n in err.validator_value
            if isinstance(err.instance, Mapping) and n not in err.instance
        ]
        if missing:
            return str(missing[0])
    return "input"


def _describe(err: ValidationError) -> dict[str, str]:
    """A message per failed keyword that never echoes the submitted value."""
    kind, want = err.validator, err.validator_value
    messages = {
        "required": "is required",
        "type": f"must be of type {want}",
        "minimum": f"must be greater than or equal to {want}",
        "maximum": f"must be less than or equal to {want}",
        "exclusiveMinimum": f"must be greater than {want}",
        "exclusiveMaximum": f"must be less than {want}",
        "minLength": f"must be at least {want} characters long",
        "maxLength": f"must be at most {want} characters long",
        "pattern": f"must match the pattern {want}",
        "enum": "must be one of: " + ", ".join(map(str, want)) if isinstance(want, list) else "",
        "minItems": f"must have at least {want} items",
        "maxItems": f"must have at most {want} items",
    }
    message = messages.get(str(kind)) or f"is not valid ({kind})"
    if kind == "allOf" or kind == "anyOf":
        message = "is not an accepted value"
        for sub in err.context or []:
            message = _describe(sub)["message"]
            break
    return {"field": _field_of(err), "message": message}
