"""Absolute URLs the API returns, and signed download URLs for stored files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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

    def file_download(self, key: str) -> str:
        """A signed, expiring URL for a stored file that works without Authorization."""
        expiry, sig = signing.sign(self.secret, key, self.ttl)
        return self.api(f"/v1/deliveries/{quote(key)}?expiry={expiry}&signature={sig}")

    def render_output(self, value: Any) -> Any:
        """Replace stored-file markers anywhere in an output with signed URLs."""
        if isinstance(value, str):
            if value.startswith(FILE_MARKER):
                return self.file_download(value[len(FILE_MARKER) :])
            return value
        if isinstance(value, list):
            return [self.render_output(v) for v in value]
        if isinstance(value, dict):
            return {k: self.render_output(v) for k, v in value.items()}
        return value


def file_marker(key: str) -> str:
    return FILE_MARKER + key
