"""The real services the store tests use, and how they behave when one is missing.

PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) run on the
development machines and in CI. Where one cannot be reached its tests are skipped with the
reason, except in CI (`CI=true`), where an unreachable service is a failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.store.sql import PostgresSql, Sql, SQLiteSql
from ivr.store.sqlite import SQLiteDatabase

PG_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
_DATABASES = (15, 12, 11, 10, 9, 8, 7, 6)
"""One Redis database per xdist worker for the store tests, apart from 13 and 14, which
test_archive_outbox and test_multi_instance empty as they run."""
REDIS_URL = os.environ.get("IVR_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_DATABASES[_WORKER % 8]}")


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def require(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not reachable at {host}:{port}: CI must run it (see .ci/run)")
    pytest.skip(f"{name} is not reachable at {host}:{port}")


async def delete_redis_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[Any]:
    """An open `PostgresDatabase` on a fresh, fully migrated schema, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    from ivr.store.postgres import PostgresDatabase, upgrade

    schema = f"t_{secrets.token_hex(6)}"
    await upgrade(PG_URL, schema=schema)
    pg = PostgresDatabase(PG_URL, schema=schema)
    await pg.open()
    try:
        yield pg
    finally:
        await pg.drop_schema()
        await pg.close()


@contextlib.asynccontextmanager
async def open_sql(kind: str, tmp_path: Path) -> AsyncIterator[Sql]:
    """The console stores' database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        db = SQLiteDatabase(tmp_path / "ivr.db")
        yield SQLiteSql(db)
        await db.close()
        return
    async with postgres_schema() as pg:
        yield PostgresSql(pg)
