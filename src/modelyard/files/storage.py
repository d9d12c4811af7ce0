"""File storage backends: the contract and the local-disk implementation."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import anyio

from modelyard.core.errors import BadRequest, ServiceUnavailable

logger = logging.getLogger(__name__)

_FULL = (errno.ENOSPC, errno.EDQUOT)


class StorageFull(ServiceUnavailable):
    """The storage has no room for a write (a full disk or an exhausted quota)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "There is no space left to store this file. Try again once the platform's operator "
            "has freed space.",
            headers={"Retry-After": "60"},
        )
        self.key = key


class FileStorage:
    """Bytes stored under keys like `predictions/<id>/<name>` or `files/<id>`."""

    # Told the key of every write refused for want of space (execution fails its prediction).
    on_full: Callable[[str], None] | None = None

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` whole or not at all; raises StorageFull when out of space."""
        raise NotImplementedError

    async def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to stream the bytes from, where the backend has one."""
        return None

    async def delete_prefix(self, prefix: str) -> int:
        raise NotImplementedError

    async def exists(self, key: str) -> bool:
        raise NotImplementedError

    async def put_file(self, key: str, path: Path) -> None:
        """Store a local file under `key` (a backend that can streams it)."""
        await self.put(key, await anyio.to_thread.run_sync(path.read_bytes))

    async def get_file(self, key: str, path: Path) -> bool:
        """Write the bytes under `key` to `path`; False when there are none."""
        data = await self.get(key)
        if data is None:
            return False
        await anyio.to_thread.run_sync(path.write_bytes, data)
        return True

    async def iter_bytes(self, key: str) -> AsyncIterator[bytes] | None:
        """The bytes under `key` in chunks (to serve a download), or None when there are none."""
        data = await self.get(key)
        return None if data is None else _once(data)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("..", "") for part in path.parts):
        raise BadRequest("That file name is not allowed.")
    return key


class LocalFileStorage(FileStorage):
    """Files under a directory; writes go to a temp file and are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        self._write(key, lambda fh: fh.write(data), len(data))

    async def put_file(self, key: str, path: Path) -> None:
        def copy(fh: BinaryIO) -> None:
            with path.open("rb") as source:
                shutil.copyfileobj(source, fh, 1 << 20)

        await anyio.to_thread.run_sync(self._write, key, copy, path.stat().st_size)

    def _write(self, key: str, write: Callable[[BinaryIO], object], size: int) -> None:
        path = self._path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:  # nothing half-written stays behind
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if exc.errno not in _FULL:
                raise
            logger.error("no space left to store %s (%d bytes): %s", key, size, exc)
            if self.on_full is not None:
                self.on_full(key)
            raise StorageFull(key) from exc

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    async def get_file(self, key: str, path: Path) -> bool:
        source = self._path(key)
        if not source.is_file():
            return False
        await anyio.to_thread.run_sync(shutil.copyfile, source, path)
        return True

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path, ignore_errors=True)
            return count
        if path.is_file():
            path.unlink()
            return 1
        return 0
