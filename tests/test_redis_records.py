"""Call records when live sessions are in Redis and records in PostgreSQL (issue 24).

- An ended call's key expires minutes after the call; only the archived record remembers
  it. A captured `/voice`, turn or status callback replayed after that must not start the
  call afresh (greeting the customer by name, reading out their order) nor overwrite the
  archived record (defect 1).
- PostgreSQL refuses NUL in text and jsonb: one NUL in what a caller said must not leave
  the record in the archive outbox for ever (defect 8).
- A call whose final status callback failed (Redis frozen at that moment) stayed live until
  its key expired, unrecorded: the sweep files it as ended and archives it (defect 2).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from ivr.config import Settings
from ivr.handoff import DialHandOff
from ivr.importer import ImportKind, parse_file
from ivr.line import SupportLine
from ivr.session import CallSession
from ivr.store.backends import build_stores
from ivr.store.outbox import ArchiveOutbox
from ivr.store.redis import RedisSessionStore
from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, TODAY, make_settings
from ivr.testing.services import PG_URL, REDIS_URL, delete_redis_keys, require
from ivr.versions.library import Flows
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.test_call_sweeper import SWEEP_AFTER
from tests.test_stores import a_session


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


async def test_a_redis_call_without_its_final_status_is_swept_into_the_archive(
    redis_settings: Settings,
) -> None:
    # Keys of its own: a sweep of the shared database's default prefix would end other tests' calls.
    prefix = f"test:{secrets.token_hex(6)}:"
    sessions = RedisSessionStore(REDIS_URL, prefix=prefix)
    await sessions.open()
    stores = build_stores(redis_settings.database_url)
    await stores.open()
    try:
        outbox = ArchiveOutbox(sessions, stores.calls)
        # Only the stores take part in a sweep: the line speaks no flow for it.
        line = SupportLine(
            cast(Flows, None),
            sessions,
            public_url="https://x.test",
            handoff=DialHandOff("+15550100042"),
            archive=outbox,
        )
        assert await sessions.create(a_session("CA-lost", started_at=time.time()))
        assert await sessions.create(a_session("CA-ended", status="completed", outcome="resolved"))
        deadline = time.monotonic() + 60
        while not (idle := await sessions.idle(SWEEP_AFTER)):
            assert time.monotonic() < deadline, "the live call never counted as unwritten"
            await asyncio.sleep(0.2)
        assert [sid for sid, _ in idle] == ["CA-lost"]
        assert await line.sweep(SWEEP_AFTER) == 1
        record = await stores.calls.get_call("CA-lost")
        assert record is not None and (record.status, record.outcome) == ("completed", "abandoned")
        assert "no final status" in record.transcript[-1].text
        assert await outbox.pending() == 0
        live = await sessions.load("CA-lost")
        assert live is not None and live.status == "completed"
        assert await line.sweep(SWEEP_AFTER) == 0, "filed once"
    finally:
        await delete_redis_keys(prefix)
        await stores.close()
        await sessions.close()
