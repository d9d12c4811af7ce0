"""Bad input: 422s naming the field before anything is queued; push errors that leave no version."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from tests.integration.harness import Server


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": 3}, "name"),  # wrong type
        ({}, "name"),  # missing required field
        ({"name": "a", "count": 11}, "count"),  # out of range
        ({"name": "a", "ratio": -0.5}, "ratio"),
        ({"name": "a", "color": "purple"}, "color"),  # unknown choice
        ({"name": "a", "loud": "yes"}, "loud"),
    ],
)
def test_invalid_input_is_422_naming_the_field(server: Server, payload: dict, field: str) -> None:
    with server.http() as http:
        before = len(http.get("/v1/predictions").json()["results"])
        r = http.post("/v1/models/admin/typed/predictions", json={"input": payload})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 422 and body["title"] and field in body["detail"]
        assert [e["field"] for e in body["errors"]] == [field]
        # Nothing was queued or stored.
        assert len(http.get("/v1/predictions").json()["results"]) == before


def test_valid_typed_input_runs(server: Server) -> None:
    with server.http() as http:
        r = http.post(
            "/v1/models/admin/typed/predictions",
            json={"input": {"name": "a", "count": 2, "color": "blue", "loud": True}},
            headers={"Prefer": "wait=30"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["output"] == "A:BLUE:0.5A:BLUE:0.5"
        assert r.headers["Preference-Applied"] == "wait=30"


def test_path_input_must_be_a_url(server: Server) -> None:
    # A bare path would be read by coglet from the platform's own disk: refuse it.
    with server.http() as http:
        r = http.post(
            "/v1/models/admin/filesize/predictions", json={"input": {"file": "/etc/hostname"}}
        )
        assert r.status_code == 422 and "file" in r.json()["detail"]
        data = base64.b64encode(b"hello bytes").decode()
        r = http.post(
            "/v1/models/admin/filesize/predictions",
            json={"input": {"file": f"data:text/plain;base64,{data}"}},
            headers={"Prefer": "wait=30"},
        )
        assert r.status_code == 201
        assert r.json()["output"] == f"11:{hashlib.sha256(b'hello bytes').hexdigest()}"


def test_unknown_model_404_and_unknown_version_422(server: Server) -> None:
    with server.http() as http:
        r = http.post("/v1/models/admin/nope/predictions", json={"input": {}})
        assert r.status_code == 404, r.text  # Replicate's answer for a missing model (issue 12)
        assert r.json()["detail"] == "The requested resource could not be found."
        r = http.post("/v1/predictions", json={"version": "f" * 64, "input": {}})
        assert r.status_code == 422
        r = http.get("/v1/models/admin/nope")
        assert r.status_code == 404 and r.headers["content-type"].startswith(
            "application/problem+json"
        )
        r = http.get("/v1/predictions/doesnotexist")
        assert r.status_code == 404


def test_missing_token_is_401(server: Server) -> None:
    import httpx

    r = httpx.get(f"{server.url}/v1/predictions")
    assert r.status_code == 401
    assert r.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }
    r = httpx.get(f"{server.url}/v1/account", headers={"Authorization": f"Token {server.token}"})
    assert r.status_code == 200


def test_push_same_directory_twice_gives_same_version(server: Server) -> None:
    again = server.push("echo", "admin/echo")
    assert again == server.versions["echo"]  # type: ignore[attr-defined]


def test_push_folder_without_cog_yaml(server: Server, tmp_path: Path) -> None:
    (tmp_path / "predict.py").write_text("x = 1\n")
    result = server.cli("push", str(tmp_path), "admin/broken")
    assert result.returncode != 0
    assert "cog.yaml" in result.stdout + result.stderr


def _model_dir(tmp_path: Path, predict: str, requirements: str | None = None) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    build = '  python_version: "3.11"\n'
    if requirements is not None:
        (d / "requirements.txt").write_text(requirements)
        build += "  python_requirements: requirements.txt\n"
    (d / "cog.yaml").write_text(f"build:\n{build}run: predict.py:Runner\n")
    (d / "predict.py").write_text(predict)
    return d


def _versions(server: Server, model: str) -> list:
    with server.http() as http:
        r = http.get(f"/v1/models/{model}/versions")
        return r.json()["results"] if r.status_code == 200 else []


def test_push_predictor_that_does_not_import(server: Server, tmp_path: Path) -> None:
    d = _model_dir(tmp_path, "import not_a_real_module_xyz\n")
    result = server.cli("push", str(d), "admin/broken-import")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "not_a_real_module_xyz" in out
    assert _versions(server, "admin/broken-import") == []


def test_push_unsatisfiable_requirements(server: Server, tmp_path: Path) -> None:
    predict = (
        "from cog import BaseRunner\n\n"
        "class Runner(BaseRunner):\n    def run(self) -> str:\n        return 'x'\n"
    )
    d = _model_dir(tmp_path, predict, "this-package-does-not-exist-modelyard==9.9.9\n")
    result = server.cli("push", str(d), "admin/broken-reqs")
    assert result.returncode != 0
    assert "this-package-does-not-exist-modelyard" in result.stdout + result.stderr
    assert _versions(server, "admin/broken-reqs") == []
