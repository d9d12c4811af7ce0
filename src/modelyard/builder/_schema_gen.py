"""Inspect a Cog predictor for its schema fragments; runs in the version's venv (stdlib + cog).

Run as `python -c <this source> --out FILE --predict REF [--train REF]` with cwd = the model
directory, so `sys.path[0]` is the model directory exactly as in coglet's worker. The Input,
enum and Output fragments (or the error) are written as JSON to FILE for `openapi.py` to
assemble; stdout and stderr are left to the model's code.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import importlib.util
import inspect
import json
import os
import sys
import traceback
import typing
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, cast

# cog is installed in the version's environment, not in the platform's: mypy types it as Any
# (the `cog` override in pyproject.toml's [tool.mypy]).
import cog
from cog import _adt, _inspector
from cog.input import FieldInfo
from cog.model import BaseModel
from cog.types import (
    AsyncConcatenateIterator,
    ConcatenateIterator,
    Secret,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass
class Target:
    """One inspected entry point: the predictor's run/predict, or the trainer's train."""

    info: Any  # cog._adt.PredictorInfo
    function: Any
    signature_defaults: dict[str, Any]
    explicit_none: set[str]
    is_async: bool
    concurrency_max: int | None


_MODULES: dict[str, Any] = {}


def title_case(name: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in name.split("_"))


def load_module(path: str) -> tuple[Any, str]:
    module_name = os.path.basename(path).replace(".py", "")  # as cog.predictor does
    if path in _MODULES:
        return _MODULES[path], module_name
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise Failure("import", f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - SystemExit in user code is a failure too
        traceback.print_exc()
        raise Failure("import", f"{type(exc).__name__}: {exc}") from exc
    _MODULES[path] = module
    return module, module_name


def default_name(module: Any) -> str:
    from cog.predictor import _runner_class_validation_error

    runner = getattr(module, "Runner", None)
    if inspect.isclass(runner) and _runner_class_validation_error(runner, "Runner") is None:
        return "Runner"
    if runner is not None and not inspect.isclass(runner) and callable(runner):
        return "Runner"
    if hasattr(module, "Predictor"):
        return "Predictor"
    raise Failure("ref", "the file defines neither Runner nor Predictor")


def inspect_target(ref: str, mode: str) -> Target:
    path, _, name = ref.partition(":")
    module, module_name = load_module(path)
    name = name or default_name(module)
    if not hasattr(module, name):
        raise Failure("ref", f"{path} does not define {name}")
    obj = getattr(module, name)
    if inspect.isclass(obj):
        if mode == "train":
            train = getattr(obj, "train", None)
            if not callable(train):
                raise Failure("inspect", f"ValueError: {name} has no train() method")
            if hasattr(obj, "setup"):
                _inspector._validate_setup(_inspector._unwrap(obj.setup))
            fname, raw = "train", train
            info = _inspector._create_predictor_info(
                module_name, name, _inspector._unwrap(raw), "train", True
            )
        else:
            info = _inspector.create_predictor(module_name, name)
            fname, raw = _inspector._selected_predict_method(obj, f"{module_name}.{name}")
        is_method = True
    elif inspect.isfunction(obj):
        info = _inspector.create_predictor(module_name, name)
        fname, raw, is_method = name, obj, False
    else:
        raise Failure("inspect", f"ValueError: {name} is neither a class nor a function")
    function = _inspector._unwrap(raw)
    source = _source_node(path, name if is_method else None, fname)
    return Target(
        info=info,
        function=function,
        signature_defaults=_signature_defaults(function),
        explicit_none=_explicit_none(source),
        is_async=inspect.iscoroutinefunction(function)
        or inspect.isasyncgenfunction(function)
        or isinstance(source, ast.AsyncFunctionDef),
        concurrency_max=getattr(raw, "__cog_concurrent_max__", None) or _concurrent_max(source),
    )


def _signature_defaults(function: Any) -> dict[str, Any]:
    params = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _source_node(path: str, class_name: str | None, fname: str) -> ast.AST | None:
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    scope: list[ast.stmt] = tree.body
    if class_name is not None:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
        if not classes:
            return None
        scope = classes[-1].body
    functions = [
        n
        for n in scope
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == fname
    ]
    return functions[-1] if functions else None


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _concurrent_max(node: ast.AST | None) -> int | None:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    for decorator in node.decorator_list:
        if _decorator_name(decorator) != "concurrent":
            continue
        if not isinstance(decorator, ast.Call):
            return 1
        for keyword in decorator.keywords:
            value = keyword.value
            if keyword.arg == "max" and isinstance(value, ast.Constant):
                return value.value if isinstance(value.value, int) else None
        return 1
    return None


def _explicit_none(node: ast.AST | None) -> set[str]:
    """Parameters whose default is written as None (`= None`, `Input(default=None)`)."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return set()
    args = node.args.posonlyargs + node.args.args
    defaults = node.args.defaults
    found: set[str] = set()
    for arg, default in zip(args[len(args) - len(defaults) :], defaults, strict=True):
        if _is_none(default):
            found.add(arg.arg)
        elif isinstance(default, ast.Call) and _decorator_name(default) == "Input":
            keyword = next((k for k in default.keywords if k.arg == "default"), None)
            if keyword is not None and _is_none(keyword.value):
                found.add(arg.arg)
            elif keyword is None and default.args and _is_none(default.args[0]):
                found.add(arg.arg)
    return found


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def json_value(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple | set):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def input_schema(target: Target, title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Input component and the enum components for `choices`, as Go's buildInputSchema."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    enums: dict[str, Any] = {}
    for name, field in target.info.inputs.items():
        prop: dict[str, Any] = {"x-order": field.order}
        ft = field.type
        if field.choices:
            kind = ft.primitive.json_type().get("type") or "string"
            enums[name] = {
                "title": name,
                "description": "An enumeration.",
                "enum": [json_value(choice) for choice in field.choices],
                "type": kind,
            }
            prop["allOf"] = [{"$ref": f"#/components/schemas/{name}"}]
        else:
            prop["title"] = title_case(name)
            prop.update(ft.json_type())
        optional = ft.repetition in (_adt.Repetition.OPTIONAL, _adt.Repetition.OPTIONAL_REPEATED)
        explicit_none = name in target.explicit_none and field.default is None
        nullable = optional or (
            ft.primitive is _adt.PrimitiveType.SECRET
            and ft.repetition is _adt.Repetition.REQUIRED
            and explicit_none
        )
        has_default = field.default is not None or (explicit_none and nullable)
        if not has_default and (
            ft.union_variants is not None
            or ft.repetition in (_adt.Repetition.REQUIRED, _adt.Repetition.REPEATED)
        ):
            required.append(name)
        if has_default:
            prop["default"] = json_value(field.default)
        if nullable:
            prop["nullable"] = True
        if field.description is not None:
            prop["description"] = field.description
        if field.ge is not None:
            prop["minimum"] = _number(field.ge)
        if field.le is not None:
            prop["maximum"] = _number(field.le)
        if field.min_length is not None:
            prop["minLength"] = field.min_length
        if field.max_length is not None:
            prop["maxLength"] = field.max_length
        if field.regex is not None:
            prop["pattern"] = field.regex
        if field.deprecated:
            prop["deprecated"] = True
        raw = target.signature_defaults.get(name)
        if isinstance(raw, FieldInfo) and raw.accept is not None:
            prop["x-cog-accept"] = raw.accept
        properties[name] = dict(sorted(prop.items()))
    schema: dict[str, Any] = {"title": title, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, enums


def output_schema(target: Target) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(target.function, include_extras=True)
        schema = _type_schema(hints["return"])
    except Exception:  # noqa: BLE001 - cog's own (flatter) fragment is the fallback
        schema = target.info.output.json_type()
    schema.pop("title", None)
    return {"title": "Output", **schema}


def _strip_annotated(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        if any(meta is cog.Opaque or type(meta).__name__ == "_OpaqueMarker" for meta in args[1:]):
            return args[0], True
        return _strip_annotated(args[0])
    return tp, False


def _type_schema(tp: Any) -> dict[str, Any]:
    """A Python type as JSON schema, recursively, like Go's SchemaType.JSONSchema()."""
    tp, opaque = _strip_annotated(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if opaque:
        is_list = tp is list or origin is list
        return {"type": "array", "items": {"type": "object"}} if is_list else {"type": "object"}
    if tp is Any or tp is dict or (origin is dict and not args):
        return {"type": "object"}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if tp is list or origin is list:
        return {"type": "array", "items": _type_schema(args[0]) if args else {"type": "object"}}
    if origin in (ConcatenateIterator, AsyncConcatenateIterator) or tp in (
        ConcatenateIterator,
        AsyncConcatenateIterator,
    ):
        return {
            "type": "array",
            "items": {"type": "string"},
            "x-cog-array-type": "iterator",
            "x-cog-array-display": "concatenate",
        }
    if origin in (Iterator, AsyncIterator):
        return {"type": "array", "items": _type_schema(args[0]), "x-cog-array-type": "iterator"}
    if typing.is_typeddict(tp):
        required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
        return _object_schema(typing.get_type_hints(tp, include_extras=True), required_keys)
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        # cog makes every BaseModel subclass a dataclass (BaseModel is Any to mypy).
        fields = {f.name: f for f in dataclasses.fields(cast("type[DataclassInstance]", tp))}
        hints = typing.get_type_hints(tp, include_extras=True)
        no_default = {
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        return _object_schema({name: hints[name] for name in fields}, no_default)
    if inspect.isclass(tp) and hasattr(tp, "model_fields"):  # a pydantic v2 model
        hints = typing.get_type_hints(tp, include_extras=True)
        required = {name for name, f in tp.model_fields.items() if f.is_required()}
        return _object_schema({name: hints[name] for name in tp.model_fields}, required)
    if origin is not None or isinstance(tp, typing.TypeVar):
        raise TypeError(f"no schema rule for {tp}")
    primitive = _adt.PrimitiveType.from_type(tp)
    if primitive is _adt.PrimitiveType.CUSTOM:
        raise TypeError(f"no schema rule for {tp}")
    return dict(primitive.json_type())


def _object_schema(hints: dict[str, Any], required_keys: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, hint in hints.items():
        inner, nullable = _unwrap_optional(hint)
        prop = _type_schema(inner)
        prop["title"] = title_case(name)
        if nullable:
            prop["nullable"] = True
        elif name in required_keys:
            required.append(name)
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    inner, _ = _strip_annotated(tp)
    args = typing.get_args(inner)
    if _adt._is_union(inner) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return tp, False


def fragments(target: Target, mode: str) -> dict[str, Any]:
    inputs, enums = input_schema(target, "TrainingInput" if mode == "train" else "Input")
    return {"input": inputs, "enums": enums, "output": output_schema(target)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict = inspect_target(args.predict, "predict")
        result: dict[str, Any] = {
            "ok": True,
            "cog_version": cog.__version__,
            "predict": fragments(predict, "predict"),
            "train": fragments(inspect_target(args.train, "train"), "train")
            if args.train
            else None,
            "is_async": predict.is_async,
            "concurrency_max": predict.concurrency_max,
        }
    result["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--predict", required=True)
    parser.add_argument("--train")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except Failure as exc:
        result = {"ok": False, "kind": exc.kind, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - cog's inspector raises ValueError, TypeError, ...
        traceback.print_exc()
        result = {"ok": False, "kind": "inspect", "error": f"{type(exc).__name__}: {exc}"}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
