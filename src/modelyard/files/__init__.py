"""Files: storage backends, signed download URLs, input fetching behind an SSRF guard."""

from __future__ import annotations

from pathlib import Path

from modelyard.files import signing
from modelyard.files.fetch import FetchedFile, decode_data_url, fetch_url
from modelyard.files.s3 import S3FileStorage, S3Location, StorageUnavailable
from modelyard.files.storage import FileStorage, LocalFileStorage
from modelyard.files.urlguard import check_url, check_url_async, is_private_address


def make_storage(storage_url: str | None, data_dir: Path) -> FileStorage:
    """Files under `data_dir/files`, or in S3 when an `s3://bucket/prefix?…` URL is given."""
    if not storage_url:
        return LocalFileStorage(data_dir / "files")
    return S3FileStorage(S3Location.parse(storage_url))


__all__ = [
    "FetchedFile",
    "FileStorage",
    "LocalFileStorage",
    "S3FileStorage",
    "S3Location",
    "StorageUnavailable",
    "check_url",
    "check_url_async",
    "decode_data_url",
    "fetch_url",
    "is_private_address",
    "make_storage",
    "signing",
]
