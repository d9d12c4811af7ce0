"""Resolving model and version references, with compiled schemas cached per version."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from modelyard.accounts import Account
from modelyard.core.errors import InvalidVersion, NotFound
from modelyard.core.validation import InputSchema
from modelyard.store import Conn
from modelyard.store import models as store

VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
MODEL_REF = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9_.-]*)/(?P<name>[a-z0-9][a-z0-9_.-]*)$")
RESOURCE_NOT_FOUND = "The requested resource could not be found."  # Replicate's words
VERSION_REF = re.compile(
    r"^(?P<owner>[a-z0-9][a-z0-9_.-]*)/(?P<name>[a-z0-9][a-z0-9_.-]*):(?P<version>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class VersionInfo:
    """A runnable version with what the hot path needs, computed once."""

    pk: int
    id: str
    model_id: int
    owner: str
    name: str
    visibility: str
    row: dict[str, Any] = field(repr=False)
    schema: InputSchema = field(repr=False)
    hardware: str = "cpu"  # the model's hardware SKU: what its predictions are billed at
    building: bool = False  # its environment is still being built: no schema yet
    max_instances: int | None = None  # the model's own cap on instances (None: the default)
    prediction_timeout: float | None = None  # the model's own limit in seconds

    @property
    def model(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def output_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = (
            (self.row.get("openapi_schema") or {})
            .get("components", {})
            .get("schemas", {})
            .get("Output", {})
        )
        return schema

    @property
    def is_iterator(self) -> bool:
        return self.output_schema.get("x-cog-array-type") == "iterator"

    @property
    def returns_file_list(self) -> bool:
        """A list of files returned at once (not an iterator's yields)."""
        schema = self.output_schema
        items = schema.get("items") or {}
        return (
            schema.get("type") == "array"
            and not self.is_iterator
            and isinstance(items, dict)
            and items.get("format") == "uri"
        )

    @property
    def queue(self) -> str:
        return f"version:{self.pk}"


def can_see(account: Account | None, owner: str, visibility: str) -> bool:
    """Public models are everyone's; private ones their owner's and its organizations' members'."""
    return visibility == "public" or (account is not None and account.acts_for(owner))


class Catalog:
    """Looks up versions by any reference form, caching compiled input schemas by version."""

    def __init__(self, ref_ttl: float = 2.0) -> None:
        self._by_pk: dict[int, VersionInfo] = {}
        # ref -> (version, expiry): a create by id, by model name or on the model's own route
        # (`model owner/name`) needs no query while fresh.
        self._refs: dict[str, tuple[VersionInfo, float]] = {}
        self.ref_ttl = ref_ttl

    def forget(self, pk: int | None = None) -> None:
        """Drop cached versions (a push, a delete, a visibility change)."""
        self._refs.clear()
        if pk is None:
            self._by_pk.clear()
        else:
            self._by_pk.pop(pk, None)

    def _info(self, version: dict[str, Any], model: dict[str, Any]) -> VersionInfo:
        ready = version["status"] == "ready"  # else a build in flight: no schema, no caching
        cached = self._by_pk.get(version["pk"])
        if (
            ready
            and cached is not None
            and cached.visibility == model["visibility"]
            and cached.hardware == model["hardware"]
            and cached.max_instances == model.get("max_instances")
            and cached.prediction_timeout == model.get("prediction_timeout")
        ):
            return cached
        info = VersionInfo(
            pk=version["pk"],
            id=version["id"],
            model_id=model["id"],
            owner=model["owner"],
            name=model["name"],
            visibility=model["visibility"],
            row=version,
            schema=InputSchema.from_openapi(version.get("openapi_schema") or {}),
            hardware=model.get("hardware") or "cpu",
            building=not ready,
            max_instances=model.get("max_instances"),
            prediction_timeout=model.get("prediction_timeout"),
        )
        if ready:
            self._by_pk[info.pk] = info
        return info

    async def by_pk(self, conn: Conn, pk: int) -> VersionInfo:
        cached = self._by_pk.get(pk)
        if cached is not None:
            return cached
        version = await store.find_version_by_pk(conn, pk)
        if version is None:
            raise NotFound("That version no longer exists.")
        model = await store.find_model_by_id(conn, version["model_id"])
        assert model is not None
        return self._info(version, model)

    async def model(
        self, conn: Conn, account: Account | None, owner: str, name: str
    ) -> dict[str, Any]:
        """A model the caller may see; others' private models are answered as missing."""
        model = await store.find_model(conn, owner, name)
        if model is None or not can_see(account, model["owner"], model["visibility"]):
            raise NotFound(f"The model {owner}/{name} does not exist.")
        return model

    async def latest(
        self,
        conn: Conn,
        account: Account,
        owner: str,
        name: str,
        *,
        building_ok: bool = False,
        model: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """The model's latest runnable version; with `building_ok`, the version being built
        when there is none yet."""
        model = model or await self.model(conn, account, owner, name)
        version = None
        if model["latest_version_id"]:
            version = await store.find_version(conn, model["id"], model["latest_version_id"])
        if (version is None or version["status"] != "ready") and building_ok:
            version = await building_version(conn, model["id"])
        if version is None or version["status"] not in ("ready", "building"):
            raise InvalidVersion(f"The model {owner}/{name} has no runnable version yet.")
        return self._info(version, model)

    async def resolve_model(
        self, conn: Conn, account: Account, owner: str, name: str
    ) -> VersionInfo:
        """What `POST /v1/models/{owner}/{name}/predictions` runs: the latest version, or the
        one being built. A model the caller may not see is a 404, as a missing one."""
        key = f"model {owner}/{name}"
        if (info := self._fresh(key, account)) is not None:
            return info
        try:
            model = await self.model(conn, account, owner, name)
        except NotFound as exc:
            raise NotFound(RESOURCE_NOT_FOUND) from exc
        info = await self.latest(conn, account, owner, name, building_ok=True, model=model)
        return self._remember(key, info)

    async def resolve(
        self, conn: Conn, account: Account, ref: str, *, building_ok: bool = False
    ) -> VersionInfo:
        """A version from `<64-hex id>`, `owner/name:<id>` or `owner/name` (its latest version).

        `building_ok`: a version whose build is in flight may be returned (`building` set).
        """
        if not isinstance(ref, str):
            raise InvalidVersion()
        if (info := self._fresh(ref, account)) is not None:
            return info
        return self._remember(ref, await self._resolve(conn, account, ref, building_ok))

    def _fresh(self, key: str, account: Account | None) -> VersionInfo | None:
        """A reference resolved less than `ref_ttl` ago, if the caller may see its model."""
        cached = self._refs.get(key)
        if cached is None or cached[1] <= time.monotonic():
            return None
        info = cached[0]
        return info if can_see(account, info.owner, info.visibility) else None

    def _remember(self, key: str, info: VersionInfo) -> VersionInfo:
        if not info.building:  # a build in flight changes under the caller: never cached
            self._refs[key] = (info, time.monotonic() + self.ref_ttl)
        return info

    async def _resolve(
        self, conn: Conn, account: Account, ref: str, building_ok: bool
    ) -> VersionInfo:
        runnable = ("ready", "building") if building_ok else ("ready",)
        if m := VERSION_REF.match(ref):
            model = await store.find_model(conn, m["owner"], m["name"])
            if model is None or not can_see(account, model["owner"], model["visibility"]):
                raise InvalidVersion()
            version = await store.find_version(conn, model["id"], m["version"])
            if version is None or version["status"] not in runnable:
                raise InvalidVersion()
            return self._info(version, model)
        if VERSION_ID.match(ref):
            for row in await store.find_versions_by_id(conn, ref):
                if row["status"] in runnable and can_see(account, row["owner"], row["visibility"]):
                    model = await store.find_model_by_id(conn, row["model_id"])
                    assert model is not None
                    version = {
                        k: v for k, v in row.items() if k not in ("owner", "name", "visibility")
                    }
                    return self._info(version, model)
            raise InvalidVersion()
        if m := MODEL_REF.match(ref):
            try:
                return await self.latest(
                    conn, account, m["owner"], m["name"], building_ok=building_ok
                )
            except NotFound as exc:
                raise InvalidVersion() from exc
        raise InvalidVersion()


async def building_version(conn: Conn, model_id: int) -> dict[str, Any] | None:
    """The model's newest version whose build is in flight, if any."""
    rows = await store.list_versions(conn, model_id, status="building", after_pk=None, limit=1)
    return rows[0] if rows else None
