"""How stored files are served: headers that keep an uploaded file from acting as the API's page.

Files come from callers and models, and are served from the API's own origin. So the browser is
told never to guess a type (`nosniff`), anything it could run or render as active content (HTML,
SVG, JavaScript, XML, unknown types) is an attachment, and every download is sandboxed by CSP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from starlette.responses import FileResponse, Response, StreamingResponse

FALLBACK_TYPE = "application/octet-stream"
INLINE_TYPES = frozenset({"text/plain", "application/json"})
INLINE_FAMILIES = ("image/", "audio/", "video/")
ACTIVE_TYPES = frozenset({"image/svg+xml"})
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def stored_file_response(
    content: bytes | Path | AsyncIterator[bytes], content_type: str | None, filename: str
) -> Response:
    """The response for a stored file's bytes (its local path, or its bytes in chunks), with
    the headers above."""
    media_type = media_type_of(content_type)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Content-Disposition": content_disposition(media_type, filename),
    }
    if isinstance(content, Path):
        return FileResponse(content, media_type=media_type, headers=headers)
    if isinstance(content, bytes):
        return Response(content, media_type=media_type, headers=headers)
    return StreamingResponse(content, media_type=media_type, headers=headers)


def media_type_of(content_type: str | None) -> str:
    """The type to send: the stored one without parameters, or octet-stream if it is not one."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    return essence if MEDIA_TYPE.match(essence) else FALLBACK_TYPE


def is_inline(media_type: str) -> bool:
    """Whether a browser may show this type in place: passive media, plain text and JSON."""
    if media_type in ACTIVE_TYPES or media_type.endswith("+xml"):
        return False
    return media_type in INLINE_TYPES or media_type.startswith(INLINE_FAMILIES)


def content_disposition(media_type: str, filename: str) -> str:
    """`inline` or `attachment`, with an ASCII filename and the RFC 6266 UTF-8 one."""
    name = "".join(c for c in filename if c.isprintable() and c not in '/\\"').strip()
    name = name.lstrip(".") or "download"
    plain = UNSAFE_NAME_CHARS.sub("_", name)
    kind = "inline" if is_inline(media_type) else "attachment"
    encoded = quote(name, safe="", errors="replace")
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
