"""Model and version use cases, and the JSON a client sees for them."""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.accounts import Account
from modelyard.core import cursors
from modelyard.core.errors import BadRequest, Conflict, NotFound
from modelyard.core.openai_mapping import effective_mapping
from modelyard.core.shapes import Model, Version
from modelyard.core.timeutil import isoformat, utcnow
from modelyard.services.catalog import building_version, can_see
from modelyard.services.deployments import MAX_MAX_INSTANCES, MAX_PREDICTION_TIMEOUT
from modelyard.services.urls import Urls
from modelyard.store import deployments as deployments_store
from modelyard.store import models as store
from modelyard.store import predictions as predictions_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
PAGE_SIZE = 100


class CreateModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    owner: str
    name: str
    visibility: str = Field(default="private", pattern="^(public|private)$")
    hardware: str = "cpu"
    description: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None
    # Extensions: this model's own limits (null: the installation's defaults).
    max_instances: int | None = Field(default=None, ge=1, le=MAX_MAX_INSTANCES)
    prediction_timeout: float | None = Field(default=None, gt=0, le=MAX_PREDICTION_TIMEOUT)


async def create_model(platform: Platform, account: Account, body: CreateModel) -> dict[str, Any]:
    if not account.acts_for(body.owner):
        raise BadRequest(
            f"You can only create models under your own account ('{account.username}') or an "
            "organization you belong to."
        )
    if not NAME.match(body.name):
        raise BadRequest(
            "A model name must be lowercase letters, digits, '-', '_' or '.', starting with a "
            "letter or digit."
        )
    async with platform.db.begin() as conn:
        if await store.find_model(conn, body.owner, body.name):
            raise Conflict(f"The model {body.owner}/{body.name} already exists.")
        return await store.create_model(conn, **body.model_dump(), created_at=utcnow())


async def get_model(
    platform: Platform, account: Account | None, owner: str, name: str
) -> dict[str, Any]:
    async with platform.db.connect() as conn:
        return await platform.catalog.model(conn, account, owner, name)


async def delete_model(platform: Platform, account: Account, owner: str, name: str) -> None:
    async with platform.db.begin() as conn:
        model = await platform.catalog.model(conn, account, owner, name)
        if not account.acts_for(model["owner"]):
            raise NotFound(f"The model {owner}/{name} does not exist.")
        if await store.list_versions(conn, model["id"], status=None, after_pk=None, limit=1):
            raise Conflict(
                "Only a model without versions can be deleted; delete its versions first."
            )
        await store.delete_model(conn, model["id"])


async def list_models(
    platform: Platform, account: Account | None, *, cursor: str | None, query: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    after = _decode_int(cursor) if cursor else None
    visible = list(account.owners) if account else []
    async with platform.db.connect() as conn:
        rows = await store.list_models(
            conn, visible_to=visible, after_id=after, limit=PAGE_SIZE + 1, query=query
        )
    next_cursor = _encode_int(rows[PAGE_SIZE - 1]["id"]) if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], next_cursor


async def get_version(
    platform: Platform, account: Account | None, owner: str, name: str, version_id: str
) -> dict[str, Any]:
    async with platform.db.connect() as conn:
        model = await platform.catalog.model(conn, account, owner, name)
        version = await store.find_version(conn, model["id"], version_id)
    if version is None or version["status"] != "ready":
        raise NotFound(f"The version {version_id} of {owner}/{name} does not exist.")
    return version


async def list_versions(
    platform: Platform, account: Account | None, owner: str, name: str, *, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = _decode_int(cursor) if cursor else None
    async with platform.db.connect() as conn:
        model = await platform.catalog.model(conn, account, owner, name)
        rows = await store.list_versions(conn, model["id"], after_pk=after, limit=PAGE_SIZE + 1)
    next_cursor = _encode_int(rows[PAGE_SIZE - 1]["pk"]) if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], next_cursor


async def delete_version(
    platform: Platform, account: Account, owner: str, name: str, version_id: str
) -> None:
    """Delete an own version that no prediction has used."""
    async with platform.db.begin() as conn:
        model = await platform.catalog.model(conn, account, owner, name)
        version = await store.find_version(conn, model["id"], version_id)
        if version is None or not account.acts_for(model["owner"]):
            raise NotFound(f"The version {version_id} of {owner}/{name} does not exist.")
        if await store.count_version_predictions(conn, version["pk"]):
            raise Conflict("This version has predictions and cannot be deleted.")
        if await deployments_store.count_releases_of_version(conn, version["pk"]):
            raise Conflict("A deployment runs this version; change or delete the deployment first.")
        await store.delete_version(conn, version["pk"])
        if model["latest_version_id"] == version_id:
            remaining = await store.list_versions(conn, model["id"], after_pk=None, limit=1)
            await store.update_model(
                conn, model["id"], latest_version_id=remaining[0]["id"] if remaining else None
            )
        # The same bundle pushed to another model of the same owner shares the source folder:
        # keep it for that one.
        shared = any(
            row["source_dir"] == version["source_dir"]
            for row in await store.find_versions_by_id(conn, version_id)
        )
    platform.catalog.forget(version["pk"])
    if version.get("source_dir") and not shared:
        shutil.rmtree(platform.data_dir / version["source_dir"], ignore_errors=True)


def render_version(row: dict[str, Any]) -> dict[str, Any]:
    return _version_shape(row).to_json()


def _version_shape(row: dict[str, Any]) -> Version:
    return Version(
        id=row["id"],
        created_at=isoformat(row["created_at"]) or "",
        cog_version=row.get("cog_version") or "0.23.1",
        openapi_schema=row.get("openapi_schema") or {},
        python_requested=row.get("python_requested"),
        python_version=row.get("python_version"),
        coglet_version=row.get("coglet_version"),
        gpu=bool(row.get("gpu")),
        concurrency=int(row.get("concurrency") or 1),
        training_id=row.get("training_id"),
        openai=_openai(row),
    )


def _openai(row: dict[str, Any]) -> dict[str, Any] | None:
    mapping = effective_mapping(row.get("config"), row.get("openapi_schema") or {})
    return mapping.to_dict() if mapping is not None else None


async def render_model(platform: Platform, row: dict[str, Any], urls: Urls) -> dict[str, Any]:
    latest: Version | None = None
    example = None
    async with platform.db.connect() as conn:
        run_count = await store.count_model_predictions(conn, row["id"])
        building = await building_version(conn, row["id"])
        if row["latest_version_id"]:
            version = await store.find_version(conn, row["id"], row["latest_version_id"])
            if version is not None and version["status"] == "ready":
                latest = _version_shape(version)
        if row.get("default_example_id"):
            from modelyard.services.predictions import render_prediction

            prediction = await predictions_store.find_prediction(conn, row["default_example_id"])
            if prediction is not None:
                example = render_prediction(prediction, urls)
    return Model(
        url=urls.model(row["owner"], row["name"]),
        owner=row["owner"],
        name=row["name"],
        description=row["description"],
        visibility=row["visibility"],
        github_url=row["github_url"],
        paper_url=row["paper_url"],
        license_url=row["license_url"],
        run_count=run_count,
        cover_image_url=urls.render_output(row["cover_image_url"]),
        default_example=example,
        latest_version=latest,
        hardware=row["hardware"],
        created_at=isoformat(row["created_at"]),
        building_version=building["id"] if building else None,
        max_instances=row.get("max_instances"),
        prediction_timeout=row.get("prediction_timeout"),
    ).to_json()


def _encode_int(value: int) -> str:
    return cursors.encode_id("p", value)


def _decode_int(cursor: str) -> int:
    return cursors.decode_id("p", cursor)


__all__ = ["CreateModel", "can_see"]
