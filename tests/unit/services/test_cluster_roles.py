"""What `modelyard api` and `modelyard worker` refuse to start without."""

from __future__ import annotations

import pytest

from modelyard.services.platform import Platform, check_cluster_settings
from modelyard.settings import Settings

CLUSTER = dict(
    database_url="postgresql://db/modelyard",
    redis_url="redis://redis:6379/0",
    storage_url="s3://bucket/files?endpoint_url=http://s3:9000&region=us-east-1",
    secret_key="k" * 64,
)


def test_a_cluster_process_names_every_missing_backend() -> None:
    with pytest.raises(ValueError) as info:
        check_cluster_settings(Settings(redis_url=CLUSTER["redis_url"]))
    message = str(info.value)
    for name in ("MODELYARD_DATABASE_URL", "MODELYARD_STORAGE_URL", "MODELYARD_SECRET_KEY"):
        assert name in message
    assert "MODELYARD_REDIS_URL" not in message


def test_a_cluster_needs_postgres_not_sqlite() -> None:
    settings = Settings(**{**CLUSTER, "database_url": "sqlite:///x.db"})
    with pytest.raises(ValueError, match="on PostgreSQL"):
        check_cluster_settings(settings)


def test_serve_needs_none_of_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    check_cluster_settings(Settings(**CLUSTER))  # a complete cluster configuration passes
    platform = Platform(Settings(data_dir=tmp_path), "serve")
    assert platform.leader is None and platform.worker is None
    with pytest.raises(ValueError):
        Platform(Settings(data_dir=tmp_path), "worker")
