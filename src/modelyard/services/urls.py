"""Absolute URLs the API returns, signed download URLs, and markers of platform-written files.

Stored predictions refer to files the platform wrote by a marker that carries an HMAC tag of the
storage key; a string that merely looks like a marker (from a caller or a model) is never signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from modelyard.files import signing

FILE_MARKER = "modelyard://files/"


@dataclass(frozen=True)
class Urls:
    """Builds absolute URLs from the public base URL (or the request's own base)."""

    base: str
    secret: bytes
    ttl: int

    def api(self, path: str) -> str:
        return f"{self.base}{path}"

    def prediction(self, prediction_id: str) -> dict[str, str]:
        return {
            "get": self.api(f"/v1/predictions/{prediction_id}"),
            "cancel": self.api(f"/v1/predictions/{prediction_id}/cancel"),
            "web": self.api(f"/p/{prediction_id}"),
        }

    def stream(self, prediction_id: str, token: str) -> str:
        return self.api(f"/v1/streams/{prediction_id}/{token}")

    def model(self, owner: str, name: str) -> str:
        return self.api(f"/{owner}/{name}")

    def delivery(self, key: str) -> str:
        """A signed, expiring URL for a stored key that works without Authorization."""
        expiry, sig = signing.sign(self.secret, signing.Kind.DELIVERY, (key,), self.ttl)
        return self.api(f"/v1/deliveries/{quote(key)}?expiry={expiry}&signature={sig}")

    def file_download(self, file_id: str, owner: str) -> str:
        """A signed, expiring `/v1/files/{id}/download` URL, bound to the file and its owner."""
        expiry, sig = signing.sign(
            self.secret, signing.Kind.FILE_DOWNLOAD, (file_id, owner), self.ttl
        )
        query = urlencode({"owner": owner, "expiry": expiry, "signature": sig})
        return self.api(f"/v1/files/{quote(file_id, safe='')}/download?{query}")

    def render_output(self, value: Any) -> Any:
        """Replace the platform's stored-file markers anywhere in a value with signed URLs.

        Only markers the platform made (`file_marker`) are signed; any other string, even one
        that starts with `FILE_MARKER`, is returned as it is.
        """
        if isinstance(value, str):
            key = marked_key(self.secret, value)
            return value if key is None else self.delivery(key)
        if isinstance(value, list):
            return [self.render_output(v) for v in value]
        if isinstance(value, dict):
            return {k: self.render_output(v) for k, v in value.items()}
        return value


def file_marker(secret: bytes, key: str) -> str:
    """How stored data refers to a file the platform wrote at `key`: `render_output` signs it."""
    return f"{FILE_MARKER}{signing.tag(secret, key)}/{key}"


def marked_key(secret: bytes, value: str) -> str | None:
    """The key inside a marker made by `file_marker`; None for any other string."""
    if not value.startswith(FILE_MARKER):
        return None
    tag, sep, key = value[len(FILE_MARKER) :].partition("/")
    return key if sep and key and signing.check_tag(secret, key, tag) else None
