"""Files: storage backends, signed download URLs, input fetching behind an SSRF guard."""

from __future__ import annotations

from modelyard.files import signing
from modelyard.files.fetch import FetchedFile, decode_data_url, fetch_url
from modelyard.files.storage import FileStorage, LocalFileStorage
from modelyard.files.urlguard import check_url, check_url_async, is_private_address

__all__ = [
    "FetchedFile",
    "FileStorage",
    "LocalFileStorage",
    "check_url",
    "check_url_async",
    "decode_data_url",
    "fetch_url",
    "is_private_address",
    "signing",
]
