"""Fetch a prediction input given as a URL or a data URL, within a size limit and the SSRF guard."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import posixpath
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote_to_bytes

import httpx

from modelyard.core.errors import InvalidInput, PayloadTooLarge
from modelyard.files.guarded_http import guarded_client
from modelyard.files.urlguard import Resolver, check_url_form

MAX_REDIRECTS = 3
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
DATA_URL_CONTENT_TYPE = "text/plain;charset=US-ASCII"


@dataclass(frozen=True)
class FetchedFile:
    content: bytes
    content_type: str
    filename: str


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    allow_private: bool,
    client: httpx.AsyncClient | None = None,
    field: str = "input",
    resolver: Resolver | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> FetchedFile:
    """Download `url` with GET, following at most 3 redirects, each checked by the SSRF guard.

    Raises InvalidInput naming `field` when the guard refuses a hop or the download fails, and
    PayloadTooLarge as soon as the body passes `max_bytes`. Without `client`, a short-lived
    `guarded_client` is made: it looks each host name up once (with `resolver`, default the
    system's) and connects to the address it checked. A `client` given here checks only what
    `check_url_form` does (tests pass one with a mock transport).
    """
    if client is not None:
        return await _fetch(client, url, max_bytes, allow_private, field)
    own = guarded_client(
        allow_private=allow_private, field=field, timeout=timeout, resolver=resolver
    )
    async with own:
        return await _fetch(own, url, max_bytes, allow_private, field)


async def _fetch(
    client: httpx.AsyncClient, url: str, max_bytes: int, allow_private: bool, field: str
) -> FetchedFile:
    check_url_form(url, allow_private=allow_private, field=field)
    try:
        request = client.build_request("GET", url)
        for hop in range(MAX_REDIRECTS + 1):
            if hop:
                check_url_form(str(request.url), allow_private=allow_private, field=field)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return await _read(response, max_bytes, field)
                request = response.next_request
            finally:
                await response.aclose()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _download_failed(field, _reason(exc)) from exc
    raise _download_failed(field, f"more than {MAX_REDIRECTS} redirects")


async def _read(response: httpx.Response, max_bytes: int, field: str) -> FetchedFile:
    if not response.is_success:
        raise _download_failed(field, f"the server answered HTTP {response.status_code}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(field, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(field, max_bytes)
        chunks.append(chunk)
    content_type = response.headers.get("content-type", "").strip() or DEFAULT_CONTENT_TYPE
    name = _disposition_filename(response.headers.get("content-disposition", ""))
    name = name or posixpath.basename(response.url.path)
    return FetchedFile(b"".join(chunks), content_type, _safe_name(name, content_type))


def decode_data_url(url: str, *, max_bytes: int, field: str) -> FetchedFile:
    """Decode a `data:` URL (RFC 2397), base64 or percent-encoded.

    Raises InvalidInput naming `field` for a malformed data URL and PayloadTooLarge when the
    decoded content would pass `max_bytes`.
    """
    scheme, comma, payload = url.partition(",")
    if not comma or scheme[:5].lower() != "data:":
        raise InvalidInput(f"{field} is not a valid data URL")
    media_type, *params = (param.strip() for param in scheme[5:].split(";"))
    is_base64 = bool(params) and params[-1].lower() == "base64"
    if is_base64:
        params.pop()
    names = [p for p in params if p.partition("=")[0].strip().lower() in {"name", "filename"}]
    kept = [p for p in params if p not in names]
    content_type = ";".join([media_type or "text/plain", *kept])
    if not media_type and not kept:
        content_type = DATA_URL_CONTENT_TYPE
    try:
        raw = unquote_to_bytes(payload)
        if is_base64:
            encoded = b"".join(raw.split())
            if len(encoded) // 4 * 3 > max_bytes:
                raise _too_large(field, max_bytes)
            raw = base64.b64decode(encoded + b"=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{field} is not a valid data URL: bad base64 content") from exc
    if len(raw) > max_bytes:
        raise _too_large(field, max_bytes)
    name = names[-1].partition("=")[2] if names else ""
    filename = unquote_to_bytes(name).decode("utf-8", errors="replace")
    return FetchedFile(raw, content_type, _safe_name(filename, content_type))


def _disposition_filename(header: str) -> str:
    if not header:
        return ""
    message = Message()
    message["content-disposition"] = header
    return message.get_filename() or ""


def _safe_name(name: str, content_type: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "").strip()
    if name and name not in {".", ".."}:
        return name
    extension = mimetypes.guess_extension(content_type.split(";", 1)[0].strip()) or ""
    return "file" + extension


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "the request timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the host"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return "the server sent an invalid response"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "the URL is not valid"
    return "a network error occurred"


def _download_failed(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field} could not be downloaded: {reason}")


def _too_large(field: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{field} is larger than the limit of {max_bytes} bytes")
