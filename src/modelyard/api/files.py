"""Routes: /v1/files — upload, read, list, delete, download."""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from modelyard.accounts import parse_authorization
from modelyard.api._downloads import stored_file_response
from modelyard.api.deps import CurrentAccount, PlatformDep, UrlsDep, json_response
from modelyard.api.limits import parse_json
from modelyard.api.pagination import page
from modelyard.core.errors import BadRequest, NotFound, PayloadTooLarge
from modelyard.services import files as service

router = APIRouter()

MULTIPART_OVERHEAD = 1024 * 1024


@router.post("/v1/files")
async def create_file(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    """Accepts the Python, JS and stainless multipart shapes (see the API reference §2.5)."""
    limit = platform.settings.max_file_bytes
    if int(request.headers.get("content-length") or 0) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(service.TOO_LARGE)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest(
            "Upload files as multipart/form-data with the file in a part named `content`."
        )
    form = await request.form(max_part_size=8 * 1024 * 1024)
    content = form.get("content")
    if not isinstance(content, UploadFile):
        raise BadRequest("The multipart body must have a file part named `content`.")
    if (content.size or 0) > limit:
        raise PayloadTooLarge(service.TOO_LARGE)
    data = await content.read()
    filename = _text(form.get("filename")) or content.filename or "file"
    if len(filename.encode()) > 255:
        raise BadRequest("`filename` must be at most 255 bytes.")
    content_type = (
        _text(form.get("type"))
        or (content.content_type if content.content_type not in (None, "") else None)
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )
    row = await service.create_file(
        platform,
        account,
        content=data,
        filename=filename,
        content_type=content_type,
        metadata=await _metadata(form, platform.settings.max_json_depth),
    )
    return json_response(service.render_file(row, urls), status=201)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def _metadata(form: Any, max_depth: int) -> dict[str, Any]:
    raw = form.get("metadata")
    if isinstance(raw, UploadFile):  # the JS client sends it as a JSON file part named "blob"
        raw = (await raw.read()).decode(errors="replace")
    if isinstance(raw, str) and raw.strip():
        try:
            value = parse_json(raw, max_depth)
        except json.JSONDecodeError as exc:
            raise BadRequest("`metadata` must be a JSON object.") from exc
        if not isinstance(value, dict):
            raise BadRequest("`metadata` must be a JSON object.")
        return value
    # stainless flattens it into metadata[key] fields.
    return {
        k[9:-1]: v for k, v in form.multi_items() if k.startswith("metadata[") and k.endswith("]")
    }


@router.get("/v1/files")
async def list_files(
    request: Request, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    rows, next_cursor = await service.list_files(
        platform, account, cursor=request.query_params.get("cursor")
    )
    results = [service.render_file(r, urls) for r in rows]
    return json_response(page(urls, "/v1/files", results, next_cursor))


@router.get("/v1/files/{file_id}")
async def get_file(
    file_id: str, platform: PlatformDep, account: CurrentAccount, urls: UrlsDep
) -> Response:
    return json_response(
        service.render_file(await service.get_file(platform, account, file_id), urls)
    )


@router.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, platform: PlatformDep, account: CurrentAccount) -> Response:
    await service.delete_file(platform, account, file_id)
    return Response(status_code=204)


@router.get("/v1/files/{file_id}/download")
async def download_file(file_id: str, request: Request, platform: PlatformDep) -> Response:
    """The file's bytes: with the owner's token, or a signed `owner`/`expiry`/`signature` query."""
    token = parse_authorization(request.headers.get("authorization"))
    params = request.query_params
    try:
        expiry = int(params.get("expiry", "0"))
    except ValueError:
        expiry = 0
    row = await service.find_download(
        platform,
        file_id,
        account=await platform.authenticator.authenticate(token) if token else None,
        owner=params.get("owner", ""),
        expiry=expiry,
        signature=params.get("signature", ""),
    )
    chunks = await platform.storage.iter_bytes(row["storage_key"])
    if chunks is None:
        raise NotFound("File not found")
    return stored_file_response(chunks, row["content_type"], row["name"])
