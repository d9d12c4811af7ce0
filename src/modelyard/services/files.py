"""Uploaded files: create, read, list, delete, and the File object a client sees."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from modelyard.accounts import Account
from modelyard.core import ids
from modelyard.core.errors import NotFound, PayloadTooLarge
from modelyard.core.timeutil import isoformat, utcnow
from modelyard.files import signing
from modelyard.services.predictions import decode_cursor, encode_cursor
from modelyard.services.urls import Urls
from modelyard.store import files as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

PAGE_SIZE = 100
FILE_LIFETIME = timedelta(days=1)
TOO_LARGE = "Files must be less than 100MB in size"


async def create_file(
    platform: Platform,
    account: Account,
    *,
    content: bytes,
    filename: str,
    content_type: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    if len(content) > platform.settings.max_file_bytes:
        raise PayloadTooLarge(TOO_LARGE)
    file_id = ids.new_file_id()
    key = f"files/{file_id}/{_safe_name(filename)}"
    await platform.storage.put(key, content)
    now = utcnow()
    row = dict(
        id=file_id,
        account_id=account.id,
        name=filename,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        md5=hashlib.md5(content).hexdigest(),  # noqa: S324 - the etag Replicate's clients expect
        metadata=metadata,
        storage_key=key,
        created_at=now,
        expires_at=now + FILE_LIFETIME,
    )
    async with platform.db.begin() as conn:
        await store.create_file(conn, **row)
    return row


async def get_file(platform: Platform, account: Account, file_id: str) -> dict[str, Any]:
    async with platform.db.connect() as conn:
        row = await store.find_file(conn, file_id)
    if row is None or not account.sees(row["account_id"]):
        raise NotFound("File not found")
    return row


async def delete_file(platform: Platform, account: Account, file_id: str) -> None:
    row = await get_file(platform, account, file_id)
    async with platform.db.begin() as conn:
        await store.delete_file(conn, file_id)
    await platform.storage.delete_prefix(f"files/{file_id}")
    del row


async def list_files(
    platform: Platform, account: Account, *, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    before = decode_cursor(cursor) if cursor else None
    async with platform.db.connect() as conn:
        rows = await store.list_files(
            conn, account_ids=list(account.account_ids), before=before, limit=PAGE_SIZE + 1
        )
    next_cursor = encode_cursor(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], next_cursor


def render_file(row: dict[str, Any], urls: Urls) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "content_type": row["content_type"],
        "size": row["size"],
        "etag": row["md5"],
        "checksums": {"sha256": row["sha256"], "md5": row["md5"]},
        "metadata": row["metadata"] or {},
        "created_at": isoformat(row["created_at"]),
        "expires_at": isoformat(row["expires_at"]),
        "urls": {"get": urls.api(f"/v1/files/{row['id']}")},
    }


def download_url(row: dict[str, Any], urls: Urls) -> str:
    """A signed `/v1/files/{id}/download` URL of a file row (from `get_file`/`find_download`)."""
    return urls.file_download(row["id"], row["owner"])


async def find_download(
    platform: Platform,
    file_id: str,
    *,
    account: Account | None,
    owner: str,
    expiry: int,
    signature: str,
) -> dict[str, Any]:
    """The file a download may serve: one `account` sees, or the one a valid signature binds
    together with its owner. Raises NotFound otherwise (deleted, another owner, bad signature)."""
    async with platform.db.connect() as conn:
        row = await store.find_file(conn, file_id)
    if row is None:
        raise NotFound("File not found")
    if account is not None and account.sees(row["account_id"]):
        return row
    parts = (file_id, owner)
    if owner == row["owner"] and signing.verify(
        platform.secret, signing.Kind.FILE_DOWNLOAD, parts, expiry, signature
    ):
        return row
    raise NotFound("File not found")


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name.rsplit("/", 1)[-1])
    return cleaned.lstrip(".") or "file"
