"""Schema generation for each predictor style, with the real cog SDK in a real version env."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelyard.builder import SCHEMA_PATH, BuiltVersion, build_version
from modelyard.core.errors import BuildError


async def _build(model: Path, envs_dir: Path) -> BuiltVersion:
    lines: list[str] = []
    return await build_version(model, envs_dir=envs_dir, log=lines.append)


def _schemas(version: BuiltVersion) -> dict[str, Any]:
    return version.openapi_schema["components"]["schemas"]


async def test_runner_class_document_layout(make_model, shared_envs_dir: Path) -> None:
    model = make_model()
    version = await _build(model, shared_envs_dir)
    doc = version.openapi_schema
    assert doc["openapi"] == "3.0.2"
    assert doc["info"] == {"title": "Cog", "version": "0.23.1"}
    assert list(doc["paths"]) == [
        "/",
        "/health-check",
        "/predictions",
        "/predictions/{prediction_id}",
        "/predictions/{prediction_id}/cancel",
    ]
    post = doc["paths"]["/predictions"]["post"]
    assert post["x-cog-streaming"] is True
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictionRequest"
    }
    assert "put" in doc["paths"]["/predictions/{prediction_id}"]
    schemas = _schemas(version)
    assert list(schemas) == [
        "Input",
        "Output",
        "PredictionRequest",
        "PredictionResponse",
        "Status",
        "HTTPValidationError",
        "ValidationError",
    ]
    assert schemas["Input"] == {
        "title": "Input",
        "type": "object",
        "properties": {
            "text": {
                "description": "Text to echo",
                "title": "Text",
                "type": "string",
                "x-order": 0,
            }
        },
        "required": ["text"],
    }
    assert schemas["Output"] == {"title": "Output", "type": "string"}
    assert schemas["Status"]["enum"] == [
        "starting",
        "processing",
        "succeeded",
        "canceled",
        "failed",
    ]
    written = json.loads((model / SCHEMA_PATH).read_text())
    assert written == doc
    assert version.is_async is False and version.concurrency == 1


async def test_inputs_constraints_choices_secret_optional(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "predict.py": """
            from typing import Optional
            from cog import BaseRunner, Input, Path, Secret


            class Runner(BaseRunner):
                def run(
                    self,
                    prompt: str = Input(description="Prompt", min_length=1, max_length=50),
                    num_steps: int = Input(default=3, ge=1, le=10),
                    scale: float = Input(default=7.5, ge=0.5, le=20),
                    style: str = Input(default="plain", choices=["plain", "fancy"]),
                    size: int = Input(default=512, choices=[256, 512]),
                    code: str = Input(default="abc", regex="^[a-z]+$"),
                    api_key: Secret = Input(description="Key"),
                    token: Secret = Input(default=None),
                    seed: Optional[int] = Input(default=None, description="Seed"),
                    maybe: Optional[str] = Input(description="Maybe"),
                    image: Path = Input(description="Image", accept="image/*"),
                    tags: list[str] = Input(default=["a"]),
                    extra: dict = Input(default={"k": 1}),
                    old: bool = Input(default=False, deprecated=True),
                    plain: int = 5,
                ) -> str:
                    return prompt
            """
        }
    )
    schemas = _schemas(await _build(model, shared_envs_dir))
    props = schemas["Input"]["properties"]
    assert list(props) == [
        "prompt", "num_steps", "scale", "style", "size", "code", "api_key", "token",
        "seed", "maybe", "image", "tags", "extra", "old", "plain",
    ]  # fmt: skip
    assert [props[name]["x-order"] for name in props] == list(range(15))
    assert schemas["Input"]["required"] == ["prompt", "api_key", "image"]
    assert props["prompt"] == {
        "description": "Prompt",
        "maxLength": 50,
        "minLength": 1,
        "title": "Prompt",
        "type": "string",
        "x-order": 0,
    }
    assert props["num_steps"] == {
        "default": 3, "maximum": 10, "minimum": 1, "title": "Num Steps", "type": "integer",
        "x-order": 1,
    }  # fmt: skip
    assert props["scale"]["minimum"] == 0.5 and props["scale"]["maximum"] == 20
    assert props["style"] == {
        "allOf": [{"$ref": "#/components/schemas/style"}],
        "default": "plain",
        "x-order": 3,
    }
    assert schemas["style"] == {
        "title": "style", "description": "An enumeration.", "enum": ["plain", "fancy"],
        "type": "string",
    }  # fmt: skip
    assert schemas["size"]["enum"] == [256, 512] and schemas["size"]["type"] == "integer"
    assert props["code"]["pattern"] == "^[a-z]+$"
    secret = {"format": "password", "type": "string", "writeOnly": True, "x-cog-secret": True}
    assert props["api_key"] == {**secret, "description": "Key", "title": "Api Key", "x-order": 6}
    assert props["token"] == {
        **secret, "default": None, "nullable": True, "title": "Token", "x-order": 7
    }  # fmt: skip
    assert props["seed"] == {
        "default": None, "description": "Seed", "nullable": True, "title": "Seed",
        "type": "integer", "x-order": 8,
    }  # fmt: skip
    assert props["maybe"]["nullable"] is True and "default" not in props["maybe"]
    assert props["image"]["format"] == "uri" and props["image"]["x-cog-accept"] == "image/*"
    assert props["tags"]["type"] == "array" and props["tags"]["default"] == ["a"]
    assert props["extra"]["type"] == "object" and props["extra"]["default"] == {"k": 1}
    assert props["old"]["deprecated"] is True
    assert props["plain"]["default"] == 5


async def test_union_and_list_inputs(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "predict.py": """
            from typing import Optional
            from cog import BaseRunner, Input, Path


            class Runner(BaseRunner):
                def run(
                    self,
                    value: str | int = Input(default=1),
                    files: list[Path] = Input(description="Files"),
                    words: Optional[list[str]] = None,
                ) -> str:
                    return str(value)
            """
        }
    )
    schemas = _schemas(await _build(model, shared_envs_dir))
    props = schemas["Input"]["properties"]
    assert props["value"]["anyOf"] == [{"type": "string"}, {"type": "integer"}]
    assert props["value"]["default"] == 1
    assert props["files"]["items"] == {"type": "string", "format": "uri"}
    assert props["words"]["type"] == "array" and props["words"]["nullable"] is True
    assert props["words"]["default"] is None
    assert schemas["Input"]["required"] == ["files"]


async def test_legacy_predictor_with_predict_key(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": 'predict: "predict.py:Predictor"\n',
            "predict.py": """
            from cog import BasePredictor, Input


            class Predictor(BasePredictor):
                def setup(self):
                    self.greeting = "hi"

                def predict(self, name: str = Input(default="you")) -> str:
                    return f"{self.greeting} {name}"
            """,
        }
    )
    lines: list[str] = []
    version = await build_version(model, envs_dir=shared_envs_dir, log=lines.append)
    assert version.predict_ref == "predict.py:Predictor"
    assert _schemas(version)["Input"]["properties"]["name"]["default"] == "you"
    assert any("deprecated" in line for line in lines)


async def test_default_class_and_non_base_class(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": "run: predict.py\n",
            "predict.py": """
            class Predictor:
                def setup(self) -> None:
                    pass

                def predict(self, n: int) -> int:
                    return n * 2
            """,
        }
    )
    version = await _build(model, shared_envs_dir)
    assert _schemas(version)["Output"] == {"title": "Output", "type": "integer"}
    assert version.predict_ref == "predict.py"


async def test_function_ref(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": 'run: "predict.py:run"\n',
            "predict.py": """
            from cog import Input


            def run(text: str = Input(description="t"), times: int = 2) -> list[dict]:
                return [{"text": text}] * times
            """,
        }
    )
    schemas = _schemas(await _build(model, shared_envs_dir))
    assert set(schemas["Input"]["properties"]) == {"text", "times"}
    assert schemas["Output"] == {
        "title": "Output",
        "type": "array",
        "items": {"type": "object"},
    }


@pytest.mark.parametrize(
    ("annotation", "imports", "expected"),
    [
        (
            "ConcatenateIterator[str]",
            "from cog import ConcatenateIterator",
            {
                "type": "array",
                "items": {"type": "string"},
                "x-cog-array-type": "iterator",
                "x-cog-array-display": "concatenate",
            },
        ),
        (
            "Iterator[Path]",
            "from typing import Iterator\nfrom cog import Path",
            {
                "type": "array",
                "items": {"type": "string", "format": "uri"},
                "x-cog-array-type": "iterator",
            },
        ),
        ("Path", "from cog import Path", {"type": "string", "format": "uri"}),
        (
            "list[Path]",
            "from cog import Path",
            {"type": "array", "items": {"type": "string", "format": "uri"}},
        ),
        ("dict", "", {"type": "object"}),
        (
            "dict[str, float]",
            "",
            {"type": "object", "additionalProperties": {"type": "number"}},
        ),
        ("list[dict]", "", {"type": "array", "items": {"type": "object"}}),
    ],
)
async def test_output_types(make_model, shared_envs_dir, annotation, imports, expected) -> None:
    model = make_model(
        {
            "predict.py": f"""
{imports}
from cog import BaseRunner


class Runner(BaseRunner):
    def run(self, x: str) -> {annotation}:
        raise NotImplementedError
"""
        }
    )
    assert _schemas(await _build(model, shared_envs_dir))["Output"] == {
        "title": "Output",
        **expected,
    }


async def test_basemodel_output(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "predict.py": """
            from typing import Optional
            from cog import BaseModel, BaseRunner, Path


            class Output(BaseModel):
                text: str
                image_url: Path
                score: Optional[float]
                count: int = 0


            class Runner(BaseRunner):
                def run(self, x: str) -> Output:
                    raise NotImplementedError
            """
        }
    )
    assert _schemas(await _build(model, shared_envs_dir))["Output"] == {
        "title": "Output",
        "type": "object",
        "properties": {
            "text": {"type": "string", "title": "Text"},
            "image_url": {"type": "string", "format": "uri", "title": "Image Url"},
            "score": {"type": "number", "title": "Score", "nullable": True},
            "count": {"type": "integer", "title": "Count"},
        },
        "required": ["text", "image_url"],
    }


async def test_async_concurrent_runner(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "predict.py": """
            import asyncio
            import cog
            from cog import AsyncConcatenateIterator, BaseRunner


            class Runner(BaseRunner):
                @cog.concurrent(max=4)
                async def run(self, text: str) -> AsyncConcatenateIterator[str]:
                    for word in text.split():
                        await asyncio.sleep(0)
                        yield word
            """
        }
    )
    version = await _build(model, shared_envs_dir)
    assert version.is_async is True
    assert version.concurrency == 4
    assert _schemas(version)["Output"]["x-cog-array-display"] == "concatenate"


async def test_cog_yaml_concurrency_wins_over_decorator(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": "run: predict.py:Runner\nconcurrency:\n  max: 2\n",
            "predict.py": """
            from cog import BaseRunner, concurrent


            class Runner(BaseRunner):
                @concurrent(max=8)
                async def run(self, text: str) -> str:
                    return text
            """,
        }
    )
    assert (await _build(model, shared_envs_dir)).concurrency == 2


async def test_concurrency_on_sync_run_is_refused(make_model, shared_envs_dir) -> None:
    model = make_model({"cog.yaml": "run: predict.py:Runner\nconcurrency:\n  max: 3\n"})
    with pytest.raises(BuildError, match="not async"):
        await _build(model, shared_envs_dir)


async def test_subdirectory_predictor_imports(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": 'run: "src/predict.py:Runner"\n',
            "src/predict.py": """
            from cog import BaseRunner
            from src.helpers import shout
            from common import PREFIX


            class Runner(BaseRunner):
                def run(self, text: str) -> str:
                    return PREFIX + shout(text)
            """,
            "src/helpers.py": "def shout(text):\n    return text.upper()\n",
            "common.py": 'PREFIX = "> "\n',
        }
    )
    version = await _build(model, shared_envs_dir)
    assert "text" in _schemas(version)["Input"]["properties"]


async def test_training_variants(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "cog.yaml": 'run: "predict.py:Runner"\ntrain: "train.py:train"\n',
            "train.py": """
            from cog import BaseModel, Input, Path


            class TrainingOutput(BaseModel):
                weights: Path


            def train(
                steps: int = Input(default=10, ge=1),
                mode: str = Input(default="a", choices=["a", "b"]),
            ) -> TrainingOutput:
                raise NotImplementedError
            """,
        }
    )
    version = await _build(model, shared_envs_dir)
    doc = version.openapi_schema
    assert version.train_ref == "train.py:train"
    assert "/trainings" in doc["paths"] and "/trainings/{training_id}/cancel" in doc["paths"]
    assert "/trainings/{training_id}" in doc["paths"]
    assert "x-cog-streaming" not in doc["paths"]["/trainings"]["post"]
    schemas = doc["components"]["schemas"]
    assert schemas["TrainingInput"]["title"] == "TrainingInput"
    assert schemas["TrainingInput"]["properties"]["steps"]["minimum"] == 1
    assert schemas["mode"]["enum"] == ["a", "b"]
    assert schemas["TrainingOutput"]["properties"]["weights"]["format"] == "uri"
    assert {"TrainingRequest", "TrainingResponse", "Input", "Output"} <= set(schemas)


async def test_predictor_that_does_not_import(make_model, shared_envs_dir) -> None:
    model = make_model(
        {
            "predict.py": """
            import helpers_that_do_not_exist
            from cog import BaseRunner
            """
        }
    )
    with pytest.raises(BuildError) as caught:
        await _build(model, shared_envs_dir)
    assert caught.value.detail == (
        "The predictor could not be imported: "
        "ModuleNotFoundError: No module named 'helpers_that_do_not_exist'"
    )
    assert "Traceback" in caught.value.logs
    assert not (model / SCHEMA_PATH).exists()


async def test_sibling_import_in_subdirectory_fails_like_coglet(
    make_model, shared_envs_dir
) -> None:
    # coglet puts only the model directory on sys.path, not the predictor's own directory.
    model = make_model(
        {
            "cog.yaml": 'run: "src/predict.py:Runner"\n',
            "src/predict.py": "from helpers import shout\n",
            "src/helpers.py": "def shout(text):\n    return text\n",
        }
    )
    with pytest.raises(BuildError, match="No module named 'helpers'"):
        await _build(model, shared_envs_dir)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from cog import BaseRunner\n"
            "class Runner(BaseRunner):\n    def run(self, x: str):\n        return x\n",
            "return type annotation",
        ),
        (
            "from cog import BaseRunner\n"
            "class Other(BaseRunner):\n    def run(self, x: str) -> str:\n        return x\n",
            "does not define Runner",
        ),
        ("raise SystemExit(3)\n", "could not be imported: SystemExit: 3"),
    ],
)
async def test_invalid_predictors(make_model, shared_envs_dir, source, message) -> None:
    model = make_model({"predict.py": source})
    with pytest.raises(BuildError, match=message):
        await _build(model, shared_envs_dir)
