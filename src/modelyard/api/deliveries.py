"""Routes: signed file downloads, and the upload endpoint model instances write outputs to."""

from __future__ import annotations

import mimetypes
import re
import secrets
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api._downloads import stored_file_response
from modelyard.api.deps import PlatformDep
from modelyard.core.errors import BadRequest, Conflict, NotFound
from modelyard.files import signing
from modelyard.services.platform import Platform

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
    if not signing.verify(platform.secret, signing.Kind.DELIVERY, (key,), expiry, sig):
        raise NotFound("This file link is invalid or has expired.")
    name = key.rsplit("/", 1)[-1]
    media = mimetypes.guess_type(name)[0]
    path = platform.storage.local_path(key)
    if path is not None:
        return stored_file_response(path, media, name)
    chunks = await platform.storage.iter_bytes(key)  # remote storage: streamed through
    if chunks is None:
        raise NotFound("This file no longer exists.")
    return stored_file_response(chunks, media, name)


@router.put("/internal/uploads/{token}/{name:path}")
async def upload_output(token: str, name: str, request: Request, platform: PlatformDep) -> Response:
    """Where coglet PUTs output files (`--upload-url`), namespaced by the prediction id.

    Accepted only for a prediction running in this process; the key written is recorded for it,
    and only recorded keys become output files (see `Execution.uploads_for`).
    """
    prediction_id = request.headers.get("x-prediction-id", "")
    if not PREDICTION_ID.match(prediction_id):
        raise BadRequest("Uploads need an X-Prediction-ID header.")
    _check_upload_token(platform, token, prediction_id)
    uploads = platform.execution.uploads_for(prediction_id)
    if uploads is None:
        raise Conflict("Uploads are accepted only for a prediction that is processing.")
    base = SAFE_NAME.sub("_", name.rsplit("/", 1)[-1]) or "output"
    key = f"predictions/{prediction_id}/{base}"
    if key in uploads or await platform.storage.exists(key):
        stem, dot, ext = base.rpartition(".")
        base = f"{stem or ext}-{secrets.token_hex(3)}{dot}{ext if stem else ''}"
        key = f"predictions/{prediction_id}/{base}"
    uploads.add(key)
    await platform.storage.put(key, await request.body())
    location = platform.internal_files_prefix + quote(key)
    return Response(status_code=201, headers={"Location": location})


def _check_upload_token(platform: Platform, token: str, prediction_id: str) -> None:
    """NotFound unless `token` may upload outputs of `prediction_id`."""
    instance = platform.upload_instance(token)
    if instance is None or not instance.runs(prediction_id):
        raise NotFound("Unknown upload URL.")
