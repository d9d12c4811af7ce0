"""Preparing a prediction's input for its model: platform file URLs become signed URLs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from modelyard.store.tables import files

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

FILE_PATH = re.compile(r"^/v1/files/([A-Za-z0-9_-]+)$")


class InputResolver:
    """Turns `urls.get` of uploaded files into URLs the model instance can download."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def for_model(self, value: Any) -> Any:
        if isinstance(value, str):
            return await self._resolve(value)
        if isinstance(value, list):
            return [await self.for_model(v) for v in value]
        if isinstance(value, dict):
            return {k: await self.for_model(v) for k, v in value.items()}
        return value

    async def _resolve(self, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            return value
        match = FILE_PATH.match(urlsplit(value).path)
        if match is None:
            return value
        async with self.platform.db.connect() as conn:
            row = (
                await conn.execute(select(files.c.storage_key).where(files.c.id == match[1]))
            ).first()
        if row is None:
            return value
        return self.platform.internal_urls.file_download(row.storage_key)
