"""Upstream cog-examples models, registered with `modelyard models import`, run unchanged."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import replicate

from tests.integration.harness import MODELS, Server

EXAMPLES = ("cog-hello-world", "cog-canary", "cog-hello-image", "cog-blur", "cog-hello-context")
PNG = b"\x89PNG\r\n\x1a\n"


def imported(server: Server, directory: Path, *extra: str) -> str:
    """`modelyard models import DIR ...`; returns the version id it printed."""
    result = server.cli("models", "import", str(directory), *extra)
    assert result.returncode == 0, f"import failed:\n{result.stdout}\n{result.stderr}"
    line = [ln for ln in result.stdout.splitlines() if "Pushed" in ln][-1]
    return line.rsplit(":", 1)[-1].strip()


@pytest.fixture(scope="module")
def examples(server: Server) -> dict[str, str]:
    """Each example imported under its default name, admin/<directory name>."""
    return {name: imported(server, MODELS / name) for name in EXAMPLES}


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def download(server: Server, url: str) -> bytes:
    response = httpx.get(url, verify=server.verify(), timeout=30)
    response.raise_for_status()
    return response.content


def test_import_names_the_model_after_the_directory(server: Server, examples: dict) -> None:
    with server.http() as http:
        model = http.get("/v1/models/admin/cog-hello-world").json()
    assert model["latest_version"]["id"] == examples["cog-hello-world"]
    assert model["visibility"] == "private"
    listed = server.cli("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"admin/cog-hello-world  {examples['cog-hello-world'][:12]}" in listed.stdout


def test_hello_world(server: Server, examples: dict) -> None:
    assert client(server).run("admin/cog-hello-world", input={"text": "Ada"}) == "hello Ada"


def test_canary_streams(server: Server, examples: dict) -> None:
    events = [
        str(event)
        for event in client(server).stream("admin/cog-canary", input={"text": "dear friend"})
    ]
    assert "".join(events) == "hello there, dear friend "
    assert len([e for e in events if e]) >= 4


def test_hello_image_returns_its_bundled_file(server: Server, examples: dict) -> None:
    output = client(server).run("admin/cog-hello-image")
    data = download(server, str(output))
    assert data == (MODELS / "cog-hello-image" / "hello.png").read_bytes()


def test_pillow_blur(server: Server, examples: dict, tmp_path: Path) -> None:
    source = (MODELS / "cog-hello-image" / "hello.png").read_bytes()
    with io.BytesIO(source) as handle:
        output = client(server).run("admin/cog-blur", input={"image": handle, "blur": 3})
    data = download(server, str(output))
    assert data.startswith(PNG) and data != source


def test_function_predictor_returns_its_context(server: Server, examples: dict) -> None:
    output = client(server).run("admin/cog-hello-context")
    assert isinstance(output, dict) and isinstance(output["context"], dict)


def test_weights_reach_setup(server: Server, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w")
    directory = MODELS / "weights-echo"
    plain = imported(server, directory, "admin/weights-echo")
    with_file = imported(server, directory, "admin/weights-echo", "--weights", str(weights))
    with_url = imported(
        server, directory, "admin/weights-echo", "--weights", "https://example.com/w.tar"
    )
    assert len({plain, with_file, with_url}) == 3, "other weights must make another version"
    c = client(server)
    assert c.run(f"admin/weights-echo:{plain}") == "none"
    assert c.run(f"admin/weights-echo:{with_file}") == str(weights.resolve())
    url = c.run(f"admin/weights-echo:{with_url}", use_file_output=False)
    assert url == "https://example.com/w.tar"
    # The same directory and weights again is the same version.
    assert imported(server, directory, "admin/weights-echo", "--weights", str(weights)) == with_file
