"""The catalog's short-lived reference cache on the model-scoped create route."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.accounts import Account
from modelyard.core.errors import NotFound
from modelyard.core.timeutil import utcnow
from modelyard.services.catalog import Catalog
from modelyard.store import Database
from modelyard.store import models as store

OWNER = Account(id=1, username="a", name="a", type="user", webhook_secret="w")
STRANGER = Account(id=2, username="b", name="b", type="user", webhook_secret="w")


async def test_model_route_resolves_from_cache_until_forgotten(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    await db.migrate()
    now = utcnow()
    async with db.begin() as conn:
        model = await store.create_model(
            conn, owner="a", name="m", visibility="private", hardware="cpu", created_at=now
        )
        for digest in ("1" * 64, "2" * 64):
            await store.create_version(
                conn, id=digest, model_id=model["id"], status="ready", created_at=now
            )
        await store.update_model(conn, model["id"], latest_version_id="1" * 64)
    catalog = Catalog(ref_ttl=60.0)
    try:
        async with db.connect() as conn:
            first = await catalog.resolve_model(conn, OWNER, "a", "m")
        assert first.id == "1" * 64
        async with db.begin() as conn:  # changed behind the catalog's back: no query sees it
            await store.update_model(conn, model["id"], latest_version_id="2" * 64)
        async with db.connect() as conn:
            assert await catalog.resolve_model(conn, OWNER, "a", "m") is first
            with pytest.raises(NotFound):  # a cached private model stays hidden from others
                await catalog.resolve_model(conn, STRANGER, "a", "m")
        catalog.forget()  # what a push or a version's deletion does
        async with db.connect() as conn:
            assert (await catalog.resolve_model(conn, OWNER, "a", "m")).id == "2" * 64
    finally:
        await db.close()
