"""Filing ended calls for the insights and counting them: each call exactly once, however
many instances count at the same time, and the calls filed before an upgrade carried over."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from ivr.flow.files import LINE_FLOW, read_files
from ivr.insights.service import Insights, Period
from ivr.session import CallSession
from ivr.store.backends import Stores, build_stores
from ivr.store.postgres import PostgresDatabase, upgrade
from ivr.store.sql import SQLiteSql
from ivr.store.sqlite import SQLiteDatabase, SQLiteSessionStore
from ivr.testing.demo_line import ROOT, TODAY
from ivr.testing.services import PG_URL, require
from ivr.versions.store import FlowStore
from tests.conftest import undo_later_migrations

pytestmark = pytest.mark.inprocess

FILES = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
NOON = 1_795_003_200.0  # 2026-11-18 12:00 UTC
NOON_DAY = Period(TODAY.replace(day=18), TODAY.replace(day=18))
"""The calls' day (the line's default time zone is UTC)."""
CALLS = 60


def resolved(sid: str, started: float) -> CallSession:
    s = CallSession(sid, "+15550100001", "+15550009999", "support", "goodbye", started, flow_version=1)
    s.path = ["welcome", "main_menu", "faq_menu", "faq_hours", "anything_else", "goodbye"]
    s.path_at = [0.0, 4.0, 9.0, 15.0, 21.0, 30.0]
    s.outcome, s.status, s.ended_at = "resolved", "completed", started + 60
    return s


def insights_on(stores: Stores, batch: int) -> Insights:
    insights = Insights(stores.sql, FlowStore(stores.sql), stores.calls, language="en")
    insights.folder.batch = batch
    return insights


async def test_instances_counting_at_once_count_each_call_exactly_once(database_url: str) -> None:
    first, second = build_stores(database_url), build_stores(database_url)
    await first.open()
    await second.open()
    try:
        await FlowStore(first.sql).publish(LINE_FLOW, by="test", files=FILES)
        for n in range(CALLS):  # some end at the same moment: the same end time, two calls
            await first.calls.archive(resolved(f"CA{n:032x}", NOON + n // 2))
        one, other = insights_on(first, batch=7), insights_on(second, batch=7)
        counted = await asyncio.gather(one.fold(None), other.fold(None), one.fold(None))
        figures = await insights_on(second, batch=7).figures(NOON_DAY)
    finally:
        await first.close()
        await second.close()
    assert sum(counted) == CALLS, "each filed call counted by one instance"
    assert figures["calls"] == CALLS and figures["contained"] == CALLS
    assert figures["uncounted_calls"] == 0


async def test_calls_filed_before_the_upgrade_to_one_filing_index_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    db = SQLiteDatabase(path)
    await FlowStore(SQLiteSql(db)).publish(LINE_FLOW, by="test", files=FILES)
    await db.close()
    # as the release before left it (schema 14): filed calls in a table keyed by the call,
    # with an index on the end time, and two of them not counted yet
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE insight_calls")
    conn.execute("CREATE TABLE insight_calls (call_sid text PRIMARY KEY, ended_at double precision NOT NULL)")
    conn.execute("CREATE INDEX insight_calls_ended ON insight_calls (ended_at)")
    for n in range(2):
        session = resolved(f"CAold{n}", NOON + n)
        conn.execute(
            "INSERT INTO calls VALUES (?, 3, ?, '+15550100001', 'completed', 'resolved', ?, ?)",
            (session.call_sid, session.to_json(), session.started_at, session.ended_at),
        )  # filed by the trigger, into the old table
    assert conn.execute("SELECT count(*) FROM insight_calls").fetchone() == (2,)
    undo_later_migrations(conn)
    conn.execute("PRAGMA user_version = 14")
    conn.commit()
    conn.close()

    db = SQLiteDatabase(path)  # migration 15
    try:
        await SQLiteSessionStore(db).archive(resolved("CAnew", NOON + 5))  # filed by the new table
        sql = SQLiteSql(db)
        insights = Insights(sql, FlowStore(sql), SQLiteSessionStore(db), language="en")
        figures = await insights.figures(NOON_DAY)
    finally:
        await db.close()
    assert figures["calls"] == 3 and figures["uncounted_calls"] == 0


async def test_calls_filed_before_the_upgrade_to_one_filing_index_are_counted_on_postgres() -> None:
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"t_{secrets.token_hex(6)}"
    url = f"{PG_URL}?schema={schema}"
    await upgrade(PG_URL, schema=schema)
    try:
        conn = await asyncpg.connect(PG_URL)
        try:  # back to the release before (schema 14): filed calls keyed by the call, two of them
            await conn.execute(
                f'SET search_path TO "{schema}";'
                " ALTER TABLE insight_calls DROP CONSTRAINT insight_calls_pkey;"
                " ALTER TABLE insight_calls ADD PRIMARY KEY (call_sid);"
                " CREATE INDEX insight_calls_ended ON insight_calls (ended_at);"
                " DELETE FROM schema_migrations WHERE version = 15;"
            )
            for n in range(2):  # filed by the trigger, into the old table
                session = resolved(f"CAold{n}", NOON + n)
                await conn.execute(
                    "INSERT INTO calls VALUES ($1, 3, $2, '+15550100001', 'completed', 'resolved', $3, $4)",
                    session.call_sid,
                    session.to_json(),
                    session.started_at,
                    session.ended_at,
                )
            assert await conn.fetchval("SELECT count(*) FROM insight_calls") == 2
        finally:
            await conn.close()

        assert await upgrade(PG_URL, schema=schema) == ["0015_insight_filing_in_order"]
        stores = build_stores(url)
        await stores.open()
        try:
            await FlowStore(stores.sql).publish(LINE_FLOW, by="test", files=FILES)
            await stores.calls.archive(resolved("CAnew", NOON + 5))
            insights = Insights(stores.sql, FlowStore(stores.sql), stores.calls, language="en")
            figures = await insights.figures(NOON_DAY)
        finally:
            await stores.close()
    finally:
        await PostgresDatabase(PG_URL, schema=schema).drop_schema()
    assert figures["calls"] == 3 and figures["uncounted_calls"] == 0
