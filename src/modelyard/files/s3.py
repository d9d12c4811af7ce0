"""File storage on S3-compatible object storage (cluster mode): no process shares a disk.

`MODELYARD_STORAGE_URL=s3://bucket/prefix?endpoint_url=http://minio:9000&region=us-east-1`;
credentials come from the usual AWS variables (or the machine's role). boto3 is synchronous,
so every call runs in a worker thread; large files go through `put_file` / `get_file`, which
stream in multipart chunks instead of holding the whole object in memory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from modelyard.core.errors import ServiceUnavailable
from modelyard.files.storage import FileStorage, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024


class StorageUnavailable(ServiceUnavailable):
    """The object store did not answer or refused a request."""

    def __init__(self) -> None:
        super().__init__(
            "File storage is unavailable right now. Try again shortly.",
            headers={"Retry-After": "5"},
        )


@dataclass(frozen=True)
class S3Location:
    """Where the files live: a bucket, a key prefix, and how to reach the service."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://bucket/prefix?endpoint_url=…&region=…`; raises ValueError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("a storage URL looks like s3://bucket/prefix?endpoint_url=…&region=…")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint_url", "region"}
        if unknown:
            raise ValueError(f"unknown storage URL parameters: {', '.join(sorted(unknown))}")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint_url=query.get("endpoint_url"),
            region=query.get("region"),
        )


class S3FileStorage(FileStorage):
    """Objects under `prefix` in one bucket; `local_path` is always None."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=location.endpoint_url,
            region_name=location.region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
        )

    def _key(self, key: str) -> str:
        return self.location.prefix + check_key(key)

    async def _call(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            return fn(*args, **kwargs)

        try:
            return await anyio.to_thread.run_sync(run)
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(args or kwargs) from exc
            logger.error("object storage refused a request: %s", exc)
            raise StorageUnavailable() from exc
        except BotoCoreError as exc:
            logger.error("object storage unavailable: %s", exc)
            raise StorageUnavailable() from exc

    async def put(self, key: str, data: bytes) -> None:
        bucket = self.location.bucket
        await self._call(self._client.put_object, Bucket=bucket, Key=self._key(key), Body=data)

    async def get(self, key: str) -> bytes | None:
        try:
            reply = await self._call(
                self._client.get_object, Bucket=self.location.bucket, Key=self._key(key)
            )
        except FileNotFoundError:
            return None
        body = reply["Body"]
        try:
            data: bytes = await anyio.to_thread.run_sync(body.read)
        finally:
            body.close()
        return data

    async def exists(self, key: str) -> bool:
        try:
            await self._call(
                self._client.head_object, Bucket=self.location.bucket, Key=self._key(key)
            )
        except FileNotFoundError:
            return False
        return True

    async def delete_prefix(self, prefix: str) -> int:
        base = self._key(prefix.rstrip("/"))
        keys = [k for k in await self._list(base) if k == base or k.startswith(base + "/")]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            await self._call(
                self._client.delete_objects,
                Bucket=self.location.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
        return len(keys)

    async def _list(self, prefix: str) -> list[str]:
        def run() -> list[str]:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            )
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

        return list(await self._call(run))

    async def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (multipart for large ones) without reading it into memory."""
        await self._call(self._client.upload_file, str(path), self.location.bucket, self._key(key))

    async def get_file(self, key: str, path: Path) -> bool:
        """Download to `path` (streamed); False when there is no such object."""
        try:
            await self._call(
                self._client.download_file, self.location.bucket, self._key(key), str(path)
            )
        except FileNotFoundError:
            return False
        return True

    async def iter_bytes(self, key: str) -> AsyncIterator[bytes] | None:
        """The object's bytes in chunks (for downloads), or None when it does not exist."""
        try:
            reply = await self._call(
                self._client.get_object, Bucket=self.location.bucket, Key=self._key(key)
            )
        except FileNotFoundError:
            return None
        return _chunks(reply["Body"])


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(body.read, CHUNK):
            yield chunk
    finally:
        body.close()


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")
