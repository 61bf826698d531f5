"""One contract, every backend: SQLite, PostgreSQL and Redis behave the same to the line.

PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) run on the
development machines and in CI. Where they cannot be reached, their cases are skipped
with the reason, except in CI (`CI=true`), where an unreachable service is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ivr.records import Order, OrderStatus, Repair, RepairStatus, Warranty, WarrantyPlan
from ivr.session import CallSession, TranscriptEntry
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository, SQLiteSessionStore
from ivr.testing.services import REDIS_URL, delete_redis_keys, postgres_schema, require

pytestmark = pytest.mark.inprocess


@contextlib.asynccontextmanager
async def open_database(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """(session/call store, repository) on a fresh SQLite file or PostgreSQL schema."""
    if kind == "sqlite":
        db = SQLiteDatabase(tmp_path / "ivr.db")
        yield SQLiteSessionStore(db), SQLiteRepository(db)
        await db.close()
        return
    from ivr.store.postgres import PostgresRepository, PostgresSessionStore

    async with postgres_schema() as pg:
        yield PostgresSessionStore(pg), PostgresRepository(pg)


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    async with open_database(request.param, tmp_path) as stores:
        yield stores


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param != "redis":
        async with open_database(request.param, tmp_path) as (store, _):
            yield store
        return
    require("Redis", "127.0.0.1", 6379)
    from ivr.store.redis import RedisSessionStore

    prefix = f"test:{secrets.token_hex(6)}:"
    store = RedisSessionStore(REDIS_URL, prefix=prefix)
    await store.open()
    yield store
    await store.close()
    await delete_redis_keys(prefix)


def a_session(call_sid: str = "CA1", **changes: Any) -> CallSession:
    session = CallSession(
        call_sid=call_sid,
        caller="+15550100001",
        called="+15550009999",
        flow="support",
        state="main_menu",
        started_at=1_700_000_000.0,
        vars={"order_number": "4512"},
        path=["welcome", "main_menu"],
        transcript=[TranscriptEntry(0.0, "bot", "Thanks for calling.")],
        answer='{"twiml":"<Response/>"}',
    )
    for key, value in changes.items():
        setattr(session, key, value)
    return session


async def test_a_session_round_trips(sessions: Any) -> None:
    assert await sessions.create(a_session())
    assert await sessions.load("CA1") == a_session()
    assert await sessions.load("CAnope") is None


async def test_a_call_is_created_once(sessions: Any) -> None:
    assert await sessions.create(a_session())
    assert not await sessions.create(a_session(state="welcome"))
    loaded = await sessions.load("CA1")
    assert loaded is not None and loaded.state == "main_menu"


async def test_save_is_compare_and_set_on_the_turn_number(sessions: Any) -> None:
    await sessions.create(a_session())
    turn = a_session(seq=1, state="order_number")
    assert await sessions.save(turn, 0)
    stale = a_session(seq=1, state="repair_ticket")
    assert not await sessions.save(stale, 0)
    loaded = await sessions.load("CA1")
    assert loaded is not None and loaded.state == "order_number" and loaded.seq == 1


async def test_a_turn_writes_a_small_state_and_appends_its_own_lines(sessions: Any) -> None:
    await sessions.create(a_session())
    turn = await sessions.load_state("CA1")
    assert turn is not None and turn.transcript == [] and turn.state == "main_menu"
    turn.transcript.append(TranscriptEntry(2.5, "caller", "pressed 1"))
    turn.state, turn.seq, turn.answer = "order_number", 1, '{"twiml":"<Response><Hangup/></Response>"}'
    assert len(turn.state_json()) < 400
    assert await sessions.save(turn, 0)
    assert not await sessions.save(turn, 0)  # a stale duplicate appends nothing
    whole = await sessions.load("CA1")
    assert whole is not None and whole.state == "order_number"
    assert [line.text for line in whole.transcript] == ["Thanks for calling.", "pressed 1"]
    assert whole.last_written() == whole.started_at + 2.5
    assert await sessions.answer("CA1", 1) == turn.answer  # what a repeated webhook of turn 0 hears
    assert await sessions.answer("CA1", 7) is None


async def test_an_ended_call_is_filed_whole_with_every_line(sessions: Any) -> None:
    await sessions.create(a_session())
    turn = await sessions.load_state("CA1")
    assert turn is not None
    turn.status, turn.seq = "completed", 1
    with pytest.raises(ValueError, match="filed whole"):
        await sessions.save(turn, 0)  # a turn's state lacks the lines an ended record keeps
    whole = await sessions.load("CA1")
    assert whole is not None
    whole.transcript.append(TranscriptEntry(9.0, "flow", "hung up"))
    whole.status, whole.seq, whole.ended_at = "completed", 1, 1_700_000_009.0
    assert await sessions.save(whole, 0)
    ended = await sessions.load("CA1")
    assert ended is not None and ended.status == "completed"
    assert [line.text for line in ended.transcript] == ["Thanks for calling.", "hung up"]


async def test_concurrent_duplicate_turns_advance_the_call_once(sessions: Any) -> None:
    await sessions.create(a_session())
    results = await asyncio.gather(*(sessions.save(a_session(seq=1, state=f"s{i}"), 0) for i in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_finished_calls_are_archived_and_listed_newest_first(database: tuple[Any, Any]) -> None:
    calls, _ = database
    for index in range(3):
        done = a_session(
            f"CA{index}",
            started_at=1_700_000_000.0 + index,
            status="completed",
            outcome="resolved",
            ended_at=1_700_000_100.0 + index,
            seq=5,
        )
        await calls.archive(done)
    listing = await calls.list_calls(2)
    assert [c.call_sid for c in listing] == ["CA2", "CA1"]
    assert listing[0].outcome == "resolved" and listing[0].status == "completed" and listing[0].turns == 5
    record = await calls.get_call("CA0")
    assert record is not None and record.transcript == a_session().transcript


ORDER = Order(
    "4512",
    "+15550100001",
    "Jane Doe",
    "94107",
    OrderStatus.SHIPPED,
    "UPS",
    "1Z999",
    date(2026, 11, 20),
    date(2026, 11, 23),
    date(2026, 12, 4),
)
WARRANTY = Warranty("100200300", "4512", "espresso machine", date(2025, 1, 15), None, WarrantyPlan.STANDARD)
REPAIR = Repair(
    "3141",
    "100200300",
    "+15550100001",
    "espresso machine",
    RepairStatus.WAITING_FOR_PARTS,
    date(2026, 11, 21),
    date(2026, 12, 2),
)


async def test_business_records_round_trip_and_update_by_number(database: tuple[Any, Any]) -> None:
    _, repo = database
    assert await repo.upsert([ORDER]) == 1
    assert await repo.upsert([WARRANTY]) == 1
    assert await repo.upsert([REPAIR]) == 1
    assert await repo.order("4512") == ORDER
    assert await repo.warranty("100200300") == WARRANTY
    assert await repo.repair("3141") == REPAIR
    delivered = Order(
        ORDER.order_number,
        ORDER.phone,
        ORDER.customer_name,
        ORDER.postal_code,
        OrderStatus.DELIVERED,
        ORDER.carrier,
        ORDER.tracking_number,
        ORDER.placed_on,
        ORDER.ship_date,
        ORDER.eta,
    )
    await repo.upsert([delivered])
    assert await repo.order("4512") == delivered
    assert await repo.order("0000") is None and await repo.repair("0000") is None


async def test_a_failing_batch_writes_nothing(database: tuple[Any, Any]) -> None:
    _, repo = database
    broken = Order("4513", None, "X", "1", OrderStatus.SHIPPED, "", "", None, None, None)  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017  (each driver raises its own integrity error)
        await repo.upsert([ORDER, broken])
    assert await repo.order("4512") is None


async def test_purge_removes_old_finished_calls_only(database: tuple[Any, Any]) -> None:
    calls, _ = database
    old, recent = 1_600_000_000.0, 1_700_000_000.0
    await calls.archive(a_session("CAold", started_at=old, status="completed", outcome="resolved"))
    await calls.archive(a_session("CAlive", started_at=old, status="in-progress"))
    await calls.archive(a_session("CAnew", started_at=recent, status="completed", outcome="resolved"))
    assert await calls.purge(recent - 1) == 1
    assert await calls.get_call("CAold") is None
    assert await calls.get_call("CAlive") is not None and await calls.get_call("CAnew") is not None


async def test_counts_add_up_per_caller_kind_and_day_and_forget_past_days(database: tuple[Any, Any]) -> None:
    _, repo = database
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    assert [await repo.count("+15550100001", "lookups", monday) for _ in range(3)] == [1, 2, 3]
    assert await repo.count("+15550100001", "lookups", monday, add=0) == 3  # reading adds nothing
    assert await repo.count("+15550100001", "postal_failures", monday) == 1
    assert await repo.count("+15550199999", "lookups", monday) == 1
    counted = await asyncio.gather(*(repo.count("+15550100002", "lookups", monday) for _ in range(10)))
    assert sorted(counted) == list(range(1, 11))  # concurrent increments are never lost
    assert await repo.count("+15550100001", "lookups", tuesday) == 1
    assert await repo.count("+15550100001", "lookups", monday, add=0) == 0  # Monday's are gone
