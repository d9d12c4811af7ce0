"""Replicate's JSON objects as pydantic models: one shape per object the API returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class PredictionUrls(_Shape):
    """Never holds a null: absent keys only (the Python client types it Dict[str, str])."""

    get: str
    cancel: str
    web: str | None = None
    stream: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Prediction(_Shape):
    id: str
    model: str
    version: str
    input: dict[str, Any]
    output: Any = None
    logs: str = ""
    error: str | None = None
    status: str
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    urls: PredictionUrls
    metrics: dict[str, Any] = Field(default_factory=dict)
    data_removed: bool = False
    source: Literal["api", "web", "openai"] = "api"
    deployment: str | None = None
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    # Extensions the official clients ignore.
    instance_id: str | None = None
    cost_usd: float | None = None  # predict_time × the hardware's price, once finished

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"urls"})
        data["urls"] = self.urls.to_json()
        for key in ("deployment", "webhook", "webhook_events_filter", "instance_id", "cost_usd"):
            if data[key] is None:
                del data[key]
        return data


class Version(_Shape):
    id: str
    created_at: str
    cog_version: str
    openapi_schema: dict[str, Any]
    # Extensions: how the environment was built.
    python_requested: str | None = None
    python_version: str | None = None
    coglet_version: str | None = None
    gpu: bool = False
    concurrency: int = 1
    training_id: str | None = None  # the training whose weights made this version
    openai: dict[str, Any] | None = None  # what it serves on /openai/v1 (docs/openai.md)


class Model(_Shape):
    url: str
    owner: str
    name: str
    description: str | None = None
    visibility: Literal["public", "private"]
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    run_count: int = 0
    cover_image_url: str | None = None
    default_example: dict[str, Any] | None = None
    latest_version: Version | None = None
    is_official: bool = False
    hardware: str = "cpu"
    created_at: str | None = None
    # Extension: the id of a version whose environment is being built now (absent if none).
    building_version: str | None = None
    # Extensions: the model's own limits (absent: the installation's defaults).
    max_instances: int | None = None
    prediction_timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for key in ("building_version", "max_instances", "prediction_timeout"):
            if data[key] is None:
                del data[key]
        return data


class Account(_Shape):
    type: Literal["user", "organization"]
    username: str
    name: str
    github_url: str | None = None
    avatar_url: str | None = None
    # Extension: the organizations a user belongs to (and acts for).
    organizations: list[str] = Field(default_factory=list)


class Hardware(_Shape):
    sku: str
    name: str


class Page(_Shape):
    next: str | None
    previous: str | None
    results: list[dict[str, Any]]
