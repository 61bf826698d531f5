"""PostgreSQL schema migrations: `ivr db upgrade` and the check a server makes on open.

Needs PostgreSQL at 127.0.0.1:5432 (database `test`); skipped where it cannot be
reached, except in CI (`CI=true`), where that is a failure. Every test works in its own
`t_<hex>` schema and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ivr.config import ConfigError
from ivr.testing.services import PG_URL, require

pytestmark = pytest.mark.inprocess


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh, not yet created schema name; dropped after the test."""
    require("PostgreSQL", "127.0.0.1", 5432)
    from ivr.store.postgres import PostgresDatabase

    name = f"t_{secrets.token_hex(6)}"
    yield name
    await PostgresDatabase(PG_URL, schema=name).drop_schema()


async def _recorded(schema: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(PG_URL)
    try:
        rows = await conn.fetch(f'SELECT version, name FROM "{schema}".schema_migrations ORDER BY version')
    finally:
        await conn.close()
    return [(row["version"], row["name"]) for row in rows]


async def test_upgrade_applies_every_migration_once_and_is_idempotent(schema: str) -> None:
    from ivr.store.postgres import MIGRATIONS, PostgresDatabase, upgrade

    first = await upgrade(PG_URL, schema=schema)
    assert first == [m.label for m in MIGRATIONS]
    assert await upgrade(PG_URL, schema=schema) == []
    assert await _recorded(schema) == [(m.version, m.name) for m in MIGRATIONS]

    db = PostgresDatabase(PG_URL, schema=schema)
    await db.open()
    try:
        tables = await db.pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await db.close()
    assert {row["table_name"] for row in tables} >= {"orders", "warranties", "repairs", "calls"}


async def test_concurrent_upgrades_apply_each_migration_exactly_once(schema: str) -> None:
    from ivr.store.postgres import MIGRATIONS, upgrade

    results = await asyncio.gather(*(upgrade(PG_URL, schema=schema) for _ in range(4)))
    applied = [label for result in results for label in result]
    assert sorted(applied) == sorted(m.label for m in MIGRATIONS)
    assert await _recorded(schema) == [(m.version, m.name) for m in MIGRATIONS]


async def test_a_database_without_migrations_is_refused(schema: str) -> None:
    from ivr.store.postgres import PostgresDatabase

    db = PostgresDatabase(PG_URL, schema=schema)
    with pytest.raises(ConfigError, match="ivr db upgrade"):
        await db.open()
    await db.close()


async def test_a_database_missing_a_migration_is_refused(schema: str) -> None:
    from ivr.store.postgres import PostgresDatabase, upgrade

    await upgrade(PG_URL, schema=schema)
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DELETE FROM "{schema}".schema_migrations WHERE version = 1')
    finally:
        await conn.close()
    with pytest.raises(ConfigError, match="ivr db upgrade"):
        await PostgresDatabase(PG_URL, schema=schema).open()


async def test_drop_schema_refuses_public() -> None:
    from ivr.store.postgres import PostgresDatabase

    with pytest.raises(ConfigError, match="public"):
        await PostgresDatabase(PG_URL).drop_schema()


def test_schema_names_are_plain_identifiers() -> None:
    from ivr.store.postgres import PostgresDatabase

    with pytest.raises(ConfigError, match="schema"):
        PostgresDatabase(PG_URL, schema='x"; DROP TABLE calls; --')
