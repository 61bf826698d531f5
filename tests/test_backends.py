"""Whole calls through the real server on every backend: SQLite, PostgreSQL, PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.importer import ImportKind, parse_file
from ivr.store.backends import build_stores
from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, TODAY, make_settings
from ivr.testing.services import PG_URL, REDIS_URL, delete_redis_keys, require
from ivr.web.app import create_app


@pytest.fixture(params=["sqlite", "postgres", "postgres+redis"])
async def settings_for(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    env: dict[str, str] = {}
    schema = f"t_{secrets.token_hex(6)}"
    if request.param.startswith("postgres"):
        require("PostgreSQL", "127.0.0.1", 5432)
        from ivr.store.postgres import upgrade

        await upgrade(PG_URL, schema=schema)
        env["IVR_DATABASE_URL"] = f"{PG_URL}?schema={schema}"
    if request.param.endswith("redis"):
        require("Redis", "127.0.0.1", 6379)
        env["IVR_SESSION_URL"] = REDIS_URL
    settings = make_settings(tmp_path, **env)
    stores = build_stores(settings.database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await stores.close()
    yield settings
    if request.param.startswith("postgres"):
        from ivr.store.postgres import PostgresDatabase

        await PostgresDatabase(PG_URL, schema=schema).drop_schema()


async def test_a_whole_call_duplicates_and_a_restart(
    aiohttp_client: Callable, settings_for: Settings
) -> None:
    first = await aiohttp_client(create_app(settings_for, today=lambda: TODAY))
    caller = Caller(first)
    caller.call_sid = "CA" + secrets.token_hex(16)
    await caller.dial_to_menu()
    await caller.press("1")
    action = caller._action()
    await first.close()  # the instance goes away mid-call

    second = await aiohttp_client(create_app(settings_for, today=lambda: TODAY))
    caller.client = second
    a, b = await asyncio.gather(
        caller.post(action, {"Digits": "4512"}), caller.post(action, {"Digits": "4512"})
    )
    assert a.twiml == b.twiml and "has shipped with UPS" in a.text
    again = await caller.post(action, {"Digits": "4512"})  # Twilio retrying later: rebuilt, not stored
    assert again.twiml == a.twiml
    await caller.press("9")
    await caller.hang_up()

    stores = build_stores(settings_for.database_url)
    await stores.open()
    record = await stores.calls.get_call(caller.call_sid)
    await stores.close()
    assert record is not None
    assert record.status == "completed" and record.outcome == "resolved"
    assert record.path.count("order_status") == 1
    said = [line.text for line in record.transcript if line.who == "caller"]
    assert said[-2:] == ["pressed 4512", "pressed 9"], "every turn's lines are in the record, once"
    if settings_for.session_url:
        await delete_redis_keys(f"ivr:call:{caller.call_sid}")
        await delete_redis_keys(f"ivr:lines:{caller.call_sid}")
