"""Call records when live sessions are in Redis and records in PostgreSQL (issue 24).

- An ended call's key expires minutes after the call; only the archived record remembers
  it. A captured `/voice`, turn or status callback replayed after that must not start the
  call afresh (greeting the customer by name, reading out their order) nor overwrite the
  archived record (defect 1).
- PostgreSQL refuses NUL in text and jsonb: one NUL in what a caller said must not leave
  the record in the archive outbox for ever (defect 8).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ivr.config import Settings
from ivr.importer import ImportKind, parse_file
from ivr.session import CallSession
from ivr.store.backends import build_stores
from ivr.store.outbox import ArchiveOutbox
from ivr.web.app import STORES, create_app
from tests.caller import Caller
from tests.conftest import DEMO, TODAY, make_settings
from tests.services import PG_URL, REDIS_URL, require


@pytest.fixture
async def redis_settings(tmp_path: Path) -> AsyncIterator[Settings]:
    """PostgreSQL (a fresh schema with the demo data) for records, Redis for live sessions."""
    require("PostgreSQL", "127.0.0.1", 5432)
    require("Redis", "127.0.0.1", 6379)
    from ivr.store.postgres import PostgresDatabase, upgrade

    schema = f"t_{secrets.token_hex(6)}"
    await upgrade(PG_URL, schema=schema)
    settings = make_settings(
        tmp_path, IVR_DATABASE_URL=f"{PG_URL}?schema={schema}", IVR_SESSION_URL=REDIS_URL
    )
    stores = build_stores(settings.database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await stores.close()
    yield settings
    await PostgresDatabase(PG_URL, schema=schema).drop_schema()


async def archived(settings: Settings, call_sid: str) -> CallSession | None:
    stores = build_stores(settings.database_url)
    await stores.open()
    try:
        return await stores.calls.get_call(call_sid)
    finally:
        await stores.close()


async def test_replays_after_the_live_key_expired_hear_goodbye_and_leave_the_record(
    aiohttp_client: Callable, redis_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(redis_settings, today=lambda: TODAY))
    caller = Caller(client)
    welcome = await caller.dial()
    assert "4512" in welcome.text.replace(" ", "")  # the verified caller is offered their order
    first_turn = caller._action()
    status = await caller.say("yes")
    assert "shipped" in status.text
    await caller.hang_up()
    record = await archived(redis_settings, caller.call_sid)
    assert record is not None and record.status == "completed"

    redis = Redis.from_url(REDIS_URL)
    assert await redis.delete(f"ivr:call:{caller.call_sid}") == 1  # the ended key expires
    await redis.aclose()

    again = await caller.dial()
    assert again.hung_up and again.gather is None
    assert "Goodbye" in again.text and "4512" not in again.text.replace(" ", "")
    replayed = await caller.post(first_turn, {"SpeechResult": "yes", "Confidence": "0.9"})
    assert replayed.hung_up and "shipped" not in replayed.text and "Goodbye" in replayed.text
    await caller.hang_up("no-answer")

    after = await archived(redis_settings, caller.call_sid)
    assert after is not None
    assert (after.status, after.outcome, after.path) == (record.status, record.outcome, record.path)


async def test_a_nul_in_what_the_caller_said_is_archived_to_postgres(
    aiohttp_client: Callable, redis_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(redis_settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial_to_menu()
    answer = await caller.say("where\x00 is my order")
    assert "sorry" not in answer.text.lower()
    await caller.hang_up()
    record = await archived(redis_settings, caller.call_sid)
    assert record is not None and record.status == "completed", "the record reached PostgreSQL"
    said = [entry.text for entry in record.transcript if entry.who == "caller"]
    assert any("where\ufffd is my order" in text for text in said), said
    outbox = client.app[STORES].calls
    assert isinstance(outbox, ArchiveOutbox) and await outbox.pending() == 0


async def test_a_nul_in_speech_on_postgres_alone_is_kept_and_the_call_goes_on(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url)
    stores = build_stores(settings.database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await stores.close()
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial_to_menu()
    answer = await caller.say("where\x00 is my order")
    assert "sorry" not in answer.text.lower() and answer.gather is not None
    await caller.hang_up()
    record = await archived(settings, caller.call_sid)
    assert record is not None and record.status == "completed"
