"""A prediction's file inputs: checked at create time, fetched by the platform before it runs.

A file input may be a `data:` URL (passed through), a URL of a file uploaded to `/v1/files` or of
a platform output (read from storage), or any other http(s) URL, which the platform downloads
itself — behind the SSRF guard and a size limit — so the model never reaches the network for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from modelyard.core.errors import PayloadTooLarge
from modelyard.core.validation import InputSchema
from modelyard.files import check_url_async, fetch_url, signing
from modelyard.store import files as files_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

FILE_PATH = re.compile(r"^/v1/files/([A-Za-z0-9_-]+)$")
DELIVERY_PATH = "/v1/deliveries/"


class InputResolver:
    """Checks file inputs when a prediction is created and prepares them when it runs."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def check(self, cleaned: dict[str, Any], schema: InputSchema, account_id: int) -> None:
        """Refuse, before anything is stored, file URLs the platform would not fetch."""
        limit = self.platform.settings.max_file_bytes
        for name in schema.file_fields:
            for url in _urls(cleaned.get(name)):
                if url.startswith("data:"):
                    if len(url) > limit * 4 // 3 + 1024:
                        raise PayloadTooLarge(f"The file in `{name}` is larger than 100 MiB.")
                elif await self._platform_key(url, account_id) is None:
                    await check_url_async(
                        url, allow_private=self.platform.settings.allow_private_networks, field=name
                    )

    async def for_model(
        self, prediction_id: str, cleaned: dict[str, Any], schema: InputSchema, account_id: int
    ) -> dict[str, Any]:
        """The input coglet receives: every file input as a URL on the platform itself or data:.

        Raises InvalidInput / PayloadTooLarge when a URL cannot be fetched.
        """
        prepared = dict(cleaned)
        for name in schema.file_fields:
            value = cleaned.get(name)
            if isinstance(value, str):
                prepared[name] = await self._prepare(prediction_id, name, value, 0, account_id)
            elif isinstance(value, list):
                prepared[name] = [
                    await self._prepare(prediction_id, name, v, i, account_id)
                    if isinstance(v, str)
                    else v
                    for i, v in enumerate(value)
                ]
        return prepared

    async def _prepare(
        self, prediction_id: str, field: str, url: str, index: int, account_id: int
    ) -> str:
        if url.startswith("data:"):
            return url
        key = await self._platform_key(url, account_id)
        if key is None:
            fetched = await fetch_url(
                url,
                max_bytes=self.platform.settings.max_file_bytes,
                allow_private=self.platform.settings.allow_private_networks,
                field=field,
            )
            name = (
                "".join(c if c.isalnum() or c in "._-" else "_" for c in fetched.filename)
                or "input"
            )
            key = f"predictions/{prediction_id}/inputs/{field}-{index}-{name.lstrip('.')}"
            await self.platform.storage.put(key, fetched.content)
        return self.platform.internal_urls.delivery(key)

    async def _platform_key(self, url: str, account_id: int) -> str | None:
        """The storage key behind a URL of this platform: the caller's uploaded file, or a signed
        output URL (a capability of its own). A `modelyard://files/` marker never gets here: the
        schema check refuses any file input that is not an http(s) or data: URL."""
        if not url.startswith(("http://", "https://")):
            return None
        parts = urlsplit(url)
        match = FILE_PATH.match(parts.path)
        if match is not None:
            async with self.platform.db.connect() as conn:
                row = await files_store.find_file(conn, match[1])
            return row["storage_key"] if row and row["account_id"] == account_id else None
        if parts.path.startswith(DELIVERY_PATH):
            key = unquote(parts.path[len(DELIVERY_PATH) :])
            query = parse_qs(parts.query)
            try:
                expiry = int(query.get("expiry", ["0"])[0])
            except ValueError:
                return None
            signature = query.get("signature", [""])[0]
            if signing.verify(
                self.platform.secret, signing.Kind.DELIVERY, (key,), expiry, signature
            ):
                return key
        return None


def _urls(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
        return [value]
    if isinstance(value, list):
        return [
            v
            for v in value
            if isinstance(v, str) and v.startswith(("http://", "https://", "data:"))
        ]
    return []
