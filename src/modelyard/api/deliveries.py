"""Routes: signed file downloads, and the upload endpoint model instances write outputs to."""

from __future__ import annotations

import mimetypes
import re
import secrets
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from modelyard.api.deps import PlatformDep
from modelyard.core.errors import BadRequest, NotFound
from modelyard.files import signing

router = APIRouter()

PREDICTION_ID = re.compile(r"^[a-z0-9]{1,64}$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@router.get("/v1/deliveries/{key:path}")
async def download(key: str, request: Request, platform: PlatformDep) -> Response:
    """A stored file behind a signed, expiring URL; no Authorization needed."""
    try:
        expiry = int(request.query_params.get("expiry", "0"))
    except ValueError:
        expiry = 0
    sig = request.query_params.get("signature", "")
    if not signing.verify(platform.secret, key, expiry, sig):
        raise NotFound("This file link is invalid or has expired.")
    path = platform.storage.local_path(key)
    if path is None:
        data = await platform.storage.get(key)
        if data is None:
            raise NotFound("This file no longer exists.")
        media = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return Response(data, media_type=media)
    return FileResponse(
        path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


@router.put("/internal/uploads/{token}/{name:path}")
async def upload_output(token: str, name: str, request: Request, platform: PlatformDep) -> Response:
    """Where coglet PUTs output files (`--upload-url`), namespaced by the prediction id."""
    if not secrets.compare_digest(token, platform.upload_token):
        raise NotFound("Unknown upload URL.")
    prediction_id = request.headers.get("x-prediction-id", "")
    if not PREDICTION_ID.match(prediction_id):
        raise BadRequest("Uploads need an X-Prediction-ID header.")
    base = SAFE_NAME.sub("_", name.rsplit("/", 1)[-1]) or "output"
    key = f"predictions/{prediction_id}/{base}"
    if await platform.storage.exists(key):
        stem, dot, ext = base.rpartition(".")
        base = f"{stem or ext}-{secrets.token_hex(3)}{dot}{ext if stem else ''}"
        key = f"predictions/{prediction_id}/{base}"
    await platform.storage.put(key, await request.body())
    location = platform.internal_files_prefix + quote(key)
    return Response(status_code=201, headers={"Location": location})
