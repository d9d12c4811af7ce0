"""The FileStorage contract on both implementations: local disk, and S3 (moto in server mode:
no real S3 server is available on this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.backends import S3_ENV, make_bucket, moto_server

from modelyard.core.errors import BadRequest
from modelyard.files import FileStorage, LocalFileStorage, S3FileStorage, S3Location, make_storage


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_endpoint: str,
) -> FileStorage:
    if request.param == "local":
        return LocalFileStorage(tmp_path / "files")
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = make_bucket(s3_endpoint)
    url = f"s3://{bucket}/some/prefix?endpoint_url={s3_endpoint}&region=us-east-1"
    made = make_storage(url, tmp_path)
    assert isinstance(made, S3FileStorage)
    return made


async def test_put_get_exists(storage: FileStorage) -> None:
    assert await storage.get("predictions/p/out.png") is None
    assert not await storage.exists("predictions/p/out.png")
    await storage.put("predictions/p/out.png", b"\x89PNG data")
    assert await storage.get("predictions/p/out.png") == b"\x89PNG data"
    assert await storage.exists("predictions/p/out.png")
    await storage.put("predictions/p/out.png", b"replaced")
    assert await storage.get("predictions/p/out.png") == b"replaced"


async def test_delete_prefix_only_takes_that_folder(storage: FileStorage) -> None:
    for key in ("predictions/p/a", "predictions/p/sub/b", "predictions/pq/c", "files/x"):
        await storage.put(key, key.encode())
    assert await storage.delete_prefix("predictions/p") == 2
    assert not await storage.exists("predictions/p/a")
    assert not await storage.exists("predictions/p/sub/b")
    assert await storage.get("predictions/pq/c") == b"predictions/pq/c"
    assert await storage.delete_prefix("files/x") == 1
    assert await storage.delete_prefix("nothing") == 0


async def test_files_and_chunks(storage: FileStorage, tmp_path: Path) -> None:
    source = tmp_path / "bundle.tar.gz"
    source.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: multipart on S3
    await storage.put_file("versions/abc/bundle.tar.gz", source)
    target = tmp_path / "copy"
    assert await storage.get_file("versions/abc/bundle.tar.gz", target)
    assert target.read_bytes() == source.read_bytes()
    assert not await storage.get_file("versions/none", tmp_path / "none")
    chunks = await storage.iter_bytes("versions/abc/bundle.tar.gz")
    assert chunks is not None
    assert b"".join([c async for c in chunks]) == source.read_bytes()
    assert await storage.iter_bytes("versions/none") is None


async def test_keys_that_escape_are_refused(storage: FileStorage) -> None:
    for key in ("../x", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(BadRequest):
            await storage.put(key, b"x")


def test_storage_urls(tmp_path: Path) -> None:
    where = S3Location.parse("s3://bucket/a/b/?endpoint_url=http://h:9000&region=eu-west-1")
    assert where == S3Location("bucket", "a/b/", "http://h:9000", "eu-west-1")
    assert S3Location.parse("s3://bucket") == S3Location("bucket")
    for bad in ("http://bucket/x", "s3:///x", "s3://b/x?endpoint=y"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)
    assert isinstance(make_storage(None, tmp_path), LocalFileStorage)
