"""The `modelyard run` command line against a real server."""

from __future__ import annotations

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
    saved = tmp_path / "square.png"
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
    assert unknown.returncode != 0 and "no input named 'nope'" in unknown.stderr
    failed = server.cli("run", "admin/failing", cwd=tmp_path)
    assert failed.returncode != 0 and "the model refused" in failed.stderr
