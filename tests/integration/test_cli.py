"""The `modelyard run` command line against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Server


def test_run_prints_string_output(server: Server, tmp_path: Path) -> None:
    result = server.cli("run", "admin/echo", "-i", "text=hello from the cli", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the cli"


def test_run_streams_tokens(server: Server, tmp_path: Path) -> None:
    result = server.cli("run", "admin/tokens", "-i", "prefix=hey", "-i", "pause=0.2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hey world\nsecond line!"


def test_run_with_version_and_typed_inputs(server: Server, tmp_path: Path) -> None:
    version = server.versions["typed"]  # type: ignore[attr-defined]
    result = server.cli(
        "run",
        f"admin/typed:{version}",
        "-i",
        "name=x",
        "-i",
        "count=2",
        "-i",
        "loud=true",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "X:RED:0.5X:RED:0.5"


def test_run_saves_output_files_here(server: Server, tmp_path: Path) -> None:
    result = server.cli("run", "admin/image", "-i", "size=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "output.png"  # Cog's name for a single output file
    assert saved.read_bytes().startswith(b"\x89PNG")


def test_run_with_a_file_input(server: Server, tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"abc")
    result = server.cli("run", "admin/filesize", "-i", "file=@data.bin", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("3:")


def test_run_errors_are_readable(server: Server, tmp_path: Path) -> None:
    bad = server.cli("run", "admin/typed", "-i", "name=x", "-i", "count=99", cwd=tmp_path)
    assert bad.returncode != 0 and "count" in bad.stderr
    unknown = server.cli("run", "admin/typed", "-i", "nope=1", cwd=tmp_path)
    assert unknown.returncode != 0 and 'unknown input "nope"' in unknown.stderr
    failed = server.cli("run", "admin/failing", cwd=tmp_path)
    assert failed.returncode != 0 and "the model refused" in failed.stderr


def test_run_reads_inputs_as_cog_predict_does(server: Server, tmp_path: Path) -> None:
    server.push("cli-types", "admin/cli-types")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "b.txt").write_text("second")
    result = server.cli(
        "run",
        "admin/cli-types",
        *("-i", "files=@a.txt", "-i", "files=@b.txt"),  # a repeated key builds a list
        *("-i", "words=world"),  # one value for a list input: a one-element list
        *("-i", "int_choices=4", "-i", "value=1.5", "-i", "flag=true"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "files": ["first", "second"],
        "words": ["world"],
        "int_choices": 4,
        "value": 1.5,
        "value_type": "float",  # a union takes the first member the text parses as
        "flag": True,
        "note": None,
    }
    as_int = server.cli(
        "run", "admin/cli-types", "-i", "files=@a.txt", "-i", "value=7", cwd=tmp_path
    )
    assert json.loads(as_int.stdout)["value_type"] == "int"
    as_text = server.cli(
        "run", "admin/cli-types", "-i", "files=@a.txt", "-i", "value=seven", cwd=tmp_path
    )
    assert json.loads(as_text.stdout)["value"] == "seven"


def test_run_refuses_unknown_inputs_before_sending(server: Server, tmp_path: Path) -> None:
    server.push("cli-types", "admin/cli-types")
    with server.http() as http:
        before = [p["id"] for p in http.get("/v1/predictions").json()["results"]]
    result = server.cli("run", "admin/cli-types", "-i", "files=@x", "-i", "nope=1", cwd=tmp_path)
    assert result.returncode != 0
    assert 'unknown input "nope"' in result.stderr
    with server.http() as http:
        after = [p["id"] for p in http.get("/v1/predictions").json()["results"]]
        assert after == before  # nothing was sent


def test_run_takes_the_whole_input_as_json(server: Server, tmp_path: Path) -> None:
    server.push("cli-types", "admin/cli-types")
    (tmp_path / "a.txt").write_text("from a file")
    inline = server.cli(
        "run", "admin/cli-types", "--json", '{"files": ["@a.txt"], "int_choices": 5}', cwd=tmp_path
    )
    assert inline.returncode == 0, inline.stderr
    assert json.loads(inline.stdout)["files"] == ["from a file"]
    assert json.loads(inline.stdout)["int_choices"] == 5
    (tmp_path / "input.json").write_text('{"files": ["@a.txt"], "words": ["a", "b"]}')
    from_file = server.cli("run", "admin/cli-types", "--json", "@input.json", cwd=tmp_path)
    assert json.loads(from_file.stdout)["words"] == ["a", "b"]
    bad = server.cli("run", "admin/cli-types", "--json", '{"nope": 1}', cwd=tmp_path)
    assert bad.returncode != 0 and 'unknown input "nope"' in bad.stderr


def test_run_saves_a_list_of_files_under_cogs_names(server: Server, tmp_path: Path) -> None:
    server.push("file-list", "admin/file-list")
    result = server.cli(
        "run",
        "admin/file-list",
        "-i",
        "sizes=30000",
        "-i",
        "sizes=3",
        "-i",
        "sizes=500",
        "--output-json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)  # --output-json: the final prediction, alone
    assert prediction["status"] == "succeeded" and len(prediction["output"]) == 3
    for index in range(3):
        saved = tmp_path / f"output.{index}.txt"
        assert saved.read_bytes().startswith(f"{index}:".encode())
