"""`modelyard serve` on the cluster backends: PostgreSQL, Redis (queue, events) and S3 (files).

Real PostgreSQL (a database of the test's own), a `redis-server` of the test's own, and S3 from
moto in server mode (no real S3 server is available on this machine).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import boto3
import httpx
import pytest
import replicate
from redis import Redis

from tests.backends import S3_ENV, make_bucket, moto_server, redis_server
from tests.integration.harness import Server, modelyard

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(f"{POSTGRES}/test")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database() -> Iterator[str]:
    name = f"cluster_backends_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_serve_runs_predictions_on_postgres_redis_and_s3(
    tmp_path: Path, shared_envs_dir: Path, database: str
) -> None:
    with redis_server(tmp_path) as redis, moto_server() as endpoint:
        bucket = make_bucket(endpoint)
        settings = {
            "MODELYARD_DATABASE_URL": database,
            "MODELYARD_REDIS_URL": redis.url,
            "MODELYARD_STORAGE_URL": f"s3://{bucket}/cluster?endpoint_url={endpoint}&region=us-east-1",
            **S3_ENV,
        }
        server = Server(data_dir=tmp_path / "data", envs_dir=shared_envs_dir, settings=settings)
        upgraded = modelyard("db", "upgrade", env=server.env())
        assert upgraded.returncode == 0, upgraded.stderr
        server.start()
        try:
            server.push("image", "admin/image")
            client = replicate.Client(api_token=server.token, base_url=server.url)
            output = client.run("admin/image", input={"size": 4})
            assert isinstance(output, str)
            body = httpx.get(output).content  # a signed URL: no Authorization header
            assert body.startswith(b"\x89PNG")

            # The output file is in the bucket, and not on the server's disk.
            prediction_id = urlsplit(output).path.split("/")[-2]
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            )
            listed = s3.list_objects_v2(
                Bucket=bucket, Prefix=f"cluster/predictions/{prediction_id}/"
            )
            keys = [obj["Key"] for obj in listed.get("Contents", [])]
            assert keys == [f"cluster/predictions/{prediction_id}/square.png"]
            assert not [p for p in (tmp_path / "data").rglob("*.png")]

            # Queued through Redis Streams, its events on the Redis bus, its row in Postgres.
            with Redis.from_url(redis.url) as r:
                assert r.exists(f"modelyard:ev:{{{prediction_id}}}")
                assert r.scard("modelyard:queues") == 1
                assert r.hlen("modelyard:where") == 0  # acked once it finished

            async def stored_status() -> str:
                conn = await asyncpg.connect(database)
                try:
                    return str(
                        await conn.fetchval(
                            "SELECT status FROM predictions WHERE id = $1", prediction_id
                        )
                    )
                finally:
                    await conn.close()

            assert asyncio.run(stored_status()) == "succeeded"

            # Streaming through the Redis bus: live tokens, then a late subscriber's replay.
            server.push("tokens", "admin/tokens")
            streamed = client.stream("admin/tokens", input={"prefix": "hey", "pause": 0.5})
            assert "".join(str(e) for e in streamed) == "hey world\nsecond line!"
            done = client.predictions.list().results[0]
            assert done.status == "succeeded"
            assert "".join(str(e) for e in done.stream()) == "hey world\nsecond line!"

            # Cancel while it waits in the Redis queue (its instance still booting).
            server.push("sleeper", "admin/sleeper")
            waiting = client.predictions.create(model="admin/sleeper", input={"seconds": 30})
            assert client.predictions.cancel(waiting.id).status == "canceled"
            with Redis.from_url(redis.url) as r:
                assert not r.hexists("modelyard:where", waiting.id)
                # Every prediction was counted on its hardware class's demand stream (what
                # KEDA scales workers on), and nothing waits any more.
                (group,) = r.xinfo_groups("modelyard:demand:cpu")
                assert group["name"] == b"workers" and group["lag"] == 0
                assert group["entries-read"] == 3  # three predictions
        finally:
            server.stop()
