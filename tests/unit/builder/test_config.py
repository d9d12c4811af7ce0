from __future__ import annotations

import pytest

from modelyard.builder import CogConfig, load_cog_config
from modelyard.core.errors import BuildError


def test_minimal_run_ref(make_model) -> None:
    config = load_cog_config(make_model())
    assert config == CogConfig(predict_ref="predict.py:Runner")
    assert config.to_dict() == {"build": {"gpu": False}, "run": "predict.py:Runner"}


def test_full_config(make_model) -> None:
    model = make_model(
        {
            "cog.yaml": """
            build:
              gpu: true
              python_version: "3.12"
              python_requirements: requirements.txt
              system_packages: [ffmpeg, libgl1]
              run:
                - echo one
                - command: echo two
              fast: true
            run: "predict.py:Runner"
            train: "train.py:train"
            environment:
              - HF_HOME=/cache/hf
              - GREETING=a=b
            concurrency:
              max: 4
              default_target: 2
            image: r8.im/me/model
            """,
            "requirements.txt": "numpy==2.0.0\n./dist/tiny-0.1-py3-none-any.whl\n",
            "dist/tiny-0.1-py3-none-any.whl": b"not really a wheel",
            "train.py": "def train() -> str: ...\n",
        }
    )
    config = load_cog_config(model)
    assert config.gpu is True
    assert config.python_version == "3.12"
    assert config.python_requirements == "requirements.txt"
    assert config.requirements.startswith("numpy==2.0.0\n")
    assert config.local_files == ("./dist/tiny-0.1-py3-none-any.whl",)
    assert config.system_packages == ("ffmpeg", "libgl1")
    assert config.build_run == ("echo one", "echo two")
    assert config.environment == {"HF_HOME": "/cache/hf", "GREETING": "a=b"}
    assert config.concurrency_max == 4
    assert config.train_ref == "train.py:train"
    effective = config.to_dict()
    assert effective["build"]["run"] == [{"command": "echo one"}, {"command": "echo two"}]
    assert effective["environment"] == ["HF_HOME=/cache/hf", "GREETING=a=b"]
    assert effective["concurrency"] == {"max": 4}


def test_deprecated_predict_and_packages(make_model) -> None:
    model = make_model(
        {
            "cog.yaml": """
            build:
              python_version: 3.10
              python_packages:
                - "pillow==10.0.0"
                - "requests"
            predict: "predict.py:Predictor"
            """
        }
    )
    config = load_cog_config(model)
    assert config.predict_ref == "predict.py:Predictor"
    assert config.python_version == "3.10"  # YAML's float 3.1 read back as cog means it
    assert config.requirements == "pillow==10.0.0\nrequests\n"


def test_ref_without_class_is_kept_raw(make_model) -> None:
    config = load_cog_config(make_model({"cog.yaml": "run: predict.py\n"}))
    assert config.predict_ref == "predict.py"


def test_missing_cog_yaml(tmp_path) -> None:
    with pytest.raises(BuildError, match="No cog.yaml"):
        load_cog_config(tmp_path)


def test_invalid_yaml_does_not_echo_content(make_model) -> None:
    model = make_model({"cog.yaml": 'run: "predict.py:Runner"\nenvironment: [TOKEN=s3cret\n'})
    with pytest.raises(BuildError, match="not valid YAML") as caught:
        load_cog_config(model)
    assert "s3cret" not in caught.value.detail


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("build:\n  gpu: false\n", "no `run:`"),
        ("- a\n- b\n", "must be a mapping"),
        ("run: 42\n", "must be a string"),
        ("run: missing.py:Runner\n", "missing.py"),
        ("run: ../predict.py:Runner\n", "inside the model directory"),
        ("run: predict.txt:Runner\n", ".py file"),
        ("run: predict.py:Runner\npredict: other.py:Predictor\n", "both `run`"),
        ("run: predict.py:Runner\nbuild:\n  gpu: yes please\n", "build.gpu"),
        ("run: predict.py:Runner\nbuild:\n  python_version: '2.7.x'\n", "python_version"),
        ("run: predict.py:Runner\nbuild:\n  python_requirements: nope.txt\n", "nope.txt"),
        (
            "run: predict.py:Runner\nbuild:\n"
            "  python_requirements: r.txt\n  python_packages: [a]\n",
            "cannot both be set",
        ),
        ("run: predict.py:Runner\nbuild:\n  run: echo hi\n", "list of commands"),
        ("run: predict.py:Runner\nconcurrency:\n  max: 0\n", "concurrency.max"),
        ("run: predict.py:Runner\nenvironment: {A: b}\n", "NAME=value"),
        ("run: predict.py:Runner\nenvironment: ['1A=b']\n", "valid name"),
    ],
)
def test_config_errors(make_model, yaml_text: str, message: str) -> None:
    model = make_model({"cog.yaml": yaml_text, "r.txt": "x\n"})
    with pytest.raises(BuildError, match=message):
        load_cog_config(model)


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "PYTHONUNBUFFERED",
        "LIBRARY_PATH",
        "HF_ENDPOINT",
        "HF_HUB_ENABLE_HF_TRANSFER",
        "R8_TOKEN",
        "REPLICATE_API_TOKEN",
        "CUDA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "NV_GPU",
        "PGET_CONCURRENCY",
        "KUBERNETES_SERVICE_HOST",
    ],
)
def test_environment_deny_list(make_model, name: str) -> None:
    model = make_model(
        {"cog.yaml": f"run: predict.py:Runner\nenvironment:\n  - {name}=topsecret\n"}
    )
    with pytest.raises(BuildError, match=name) as caught:
        load_cog_config(model)
    assert "topsecret" not in caught.value.detail


def test_environment_allows_similar_names(make_model) -> None:
    model = make_model(
        {"cog.yaml": "run: predict.py:Runner\nenvironment:\n  - HF_HOME=/x\n  - MY_PATH=/y\n"}
    )
    assert load_cog_config(model).environment == {"HF_HOME": "/x", "MY_PATH": "/y"}


def test_environment_duplicates_are_an_error(make_model) -> None:
    model = make_model(
        {"cog.yaml": "run: predict.py:Runner\nenvironment:\n  - A=val1x\n  - A=val2x\n"}
    )
    with pytest.raises(BuildError, match="sets A twice") as caught:
        load_cog_config(model)
    assert "val1x" not in caught.value.detail and "val2x" not in caught.value.detail


def test_requirements_local_file_must_exist(make_model) -> None:
    model = make_model(
        {
            "cog.yaml": "run: predict.py:Runner\nbuild:\n  python_requirements: r.txt\n",
            "r.txt": "./wheels/missing-1.0-py3-none-any.whl\n",
        }
    )
    with pytest.raises(BuildError, match="missing-1.0"):
        load_cog_config(model)


def test_requirements_include_files_are_local_files(make_model) -> None:
    model = make_model(
        {
            "cog.yaml": "run: predict.py:Runner\nbuild:\n  python_requirements: r.txt\n",
            "r.txt": "-r more.txt\nrequests>=2 ; python_version >= '3.8'\n# ./not-a-file\n",
            "more.txt": "six\n",
        }
    )
    assert load_cog_config(model).local_files == ("more.txt",)
