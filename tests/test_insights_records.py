"""Insights from records kept before this release, and the page's doors: roles, filters, CSV."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.flow.files import LINE_FLOW, read_files
from ivr.insights.service import Insights, Period
from ivr.session import CallSession
from ivr.store.accounts import Role
from ivr.store.sql import SQLiteSql
from ivr.store.sqlite import SQLiteDatabase, SQLiteSessionStore
from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.versions.store import FlowStore
from ivr.web.app import create_app
from tests.conftest import undo_later_migrations
from tests.console import add_account, console_client, sign_in

OLD_KEYS = ("schema", "path_at", "inputs", "misheard", "transfer_reason")


def old_record(sid: str, path: list[str], outcome: str, started: float) -> str:
    """A finished call as the release before insights kept it (no times, answers or reasons)."""
    session = CallSession(sid, "+15550100001", "+15550009999", "support", path[-1], started, flow_version=1)
    session.path, session.outcome, session.status, session.ended_at = path, outcome, "completed", started + 90
    data = json.loads(session.to_json())
    for key in OLD_KEYS:
        data.pop(key, None)  # this release leaves out the empty ones itself
    return json.dumps(data)


async def test_calls_recorded_before_the_upgrade_count_once_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    db = SQLiteDatabase(path)
    sql = SQLiteSql(db)
    flows = FlowStore(sql)
    await flows.publish(
        LINE_FLOW, by="test", files=read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
    )
    await db.close()
    started = 1_795_000_000.0  # 2026-11-18
    records = [
        ("CAold1", ["welcome", "main_menu", "agent"], "transferred"),
        ("CAold2", ["welcome", "main_menu"], "abandoned"),
        ("CAold3", ["welcome", "main_menu", "faq_menu", "faq_hours", "anything_else", "goodbye"], "resolved"),
    ]
    # the database as a release at schema 9 left it: no insight tables or triggers, no caller
    # languages (12), no account languages (13)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER calls_insight_filing_insert")
    conn.execute("DROP TRIGGER calls_insight_filing_update")
    for sid, steps, outcome in records:
        conn.execute(
            "INSERT INTO calls VALUES (?, 3, ?, '+15550100001', 'completed', ?, ?, ?)",
            (sid, old_record(sid, steps, outcome, started), outcome, started, started + 90),
        )
    old = ("insight_calls", "insight_counts", "insight_volume", "insight_waits", "survey_answers")
    for table in (*old, "caller_languages"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("ALTER TABLE accounts DROP COLUMN language")
    undo_later_migrations(conn)
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()

    db = SQLiteDatabase(path)  # runs the insights migration, which files the kept records
    sql = SQLiteSql(db)
    insights = Insights(sql, FlowStore(sql), SQLiteSessionStore(db), language="en")
    figures = await insights.figures(Period(TODAY.replace(day=18), TODAY.replace(day=18)))
    await db.close()
    assert (figures["calls"], figures["contained"], figures["transferred"]) == (3, 1, 1)
    assert figures["transfer_reasons"] == {"caller_asked": 1}, "the reason of the hand-off state in the path"
    assert figures["drop_off"] == {"main_menu": 1}
    faq = next(p for p in figures["paths"] if p["path"] == "faq_menu")
    assert (faq["calls"], faq["answered"]) == (1, 0), "no times were kept, so no time to the answer"
    assert figures["uncounted_calls"] == 0


async def test_the_upgrade_to_local_days_counts_the_kept_records_again(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    db = SQLiteDatabase(path)
    sql = SQLiteSql(db)
    await FlowStore(sql).publish(
        LINE_FLOW, by="test", files=read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
    )
    evening = datetime(2026, 11, 18, 23, 30, tzinfo=ZoneInfo("America/New_York")).timestamp()
    for sid, started in (("CAevening", evening), ("CAnext", evening + 3600)):
        session = CallSession(sid, "+15550100001", "+15550009999", "support", "main_menu", started)
        session.path, session.outcome, session.status = ["welcome", "main_menu"], "abandoned", "completed"
        session.flow_version, session.ended_at = 1, started + 30
        await SQLiteSessionStore(db).archive(session)
    await db.close()
    # as the release before left it: both calls counted on their UTC day, waits in buckets
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE insight_calls")  # nothing filed, in the table as it was then
    conn.execute("CREATE TABLE insight_calls (call_sid text PRIMARY KEY, ended_at double precision NOT NULL)")
    conn.execute("CREATE INDEX insight_calls_ended ON insight_calls (ended_at)")
    conn.execute("DROP TABLE insight_waits")
    conn.execute("DROP TABLE insight_volume")
    conn.execute(
        "CREATE TABLE insight_volume (hour bigint NOT NULL, flow text NOT NULL, version integer NOT NULL,"
        " language text NOT NULL, direction text NOT NULL, calls bigint NOT NULL, seconds double precision"
        " NOT NULL, PRIMARY KEY (hour, flow, version, language, direction))"
    )
    utc_day = int(evening // 86400)
    for metric, key in (("calls", ""), ("drop_off", "main_menu"), ("queue_wait", "45")):
        conn.execute(
            "INSERT INTO insight_counts VALUES (?, 'support', 1, 'en', 'inbound', ?, ?, 2, 0)",
            (utc_day, metric, key),
        )
    undo_later_migrations(conn)
    conn.execute("PRAGMA user_version = 13")
    conn.commit()
    conn.close()

    db = SQLiteDatabase(path)  # migration 14: the roll-ups again, from the records kept
    sql = SQLiteSql(db)
    insights = Insights(
        sql, FlowStore(sql), SQLiteSessionStore(db), language="en", zone=ZoneInfo("America/New_York")
    )
    first = await insights.figures(Period(date(2026, 11, 18), date(2026, 11, 18)))
    second = await insights.figures(Period(date(2026, 11, 19), date(2026, 11, 19)))
    await db.close()
    assert (first["calls"], first["drop_off"]) == (1, {"main_menu": 1}), "23:30 New York time, counted once"
    assert (second["calls"], second["drop_off"]) == (1, {"main_menu": 1})
    assert first["queue_wait"]["calls"] == 0 and first["uncounted_calls"] == 0


async def test_only_supervisors_see_insights_and_exports_cannot_run_formulas(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial()
    for words in ("=HYPERLINK(X)", "=hyperlink(x)", "@SUM(A)"):
        await caller.say(words)
    await caller.hang_up()

    anonymous = await client.get("/console/insights", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/console/login")
    await add_account(client.app, "ann", Role.AGENT)
    await add_account(client.app, "maria", Role.SUPERVISOR)
    await sign_in(client, "ann")
    assert (await client.get("/console/insights")).status == 403
    assert (await client.get("/console/insights/export/outcomes.csv")).status == 403

    await sign_in(client, "maria")
    page = await client.get("/console/insights")
    assert page.status == 200 and 'id="calls">1<' in await page.text()
    assert (await client.get("/console/insights?since=yesterday")).status == 400
    assert (await client.get("/console/insights?since=2026-11-30&until=2026-11-01")).status == 400
    assert (await client.get("/console/insights/export/nothing.csv")).status == 404

    export = await client.get("/console/insights/export/misheard.csv")
    assert export.status == 200 and export.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await export.text())))
    assert rows[0] == ["state", "words", "calls"]
    assert sorted(r[1] for r in rows[1:]) == ["'=hyperlink(x)", "'@sum(a)"], (
        "a spreadsheet shows them as text"
    )


async def test_the_misheard_words_csv_shows_control_characters_as_escapes(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    """What a caller said reaches the CSV: an ESC sequence in it would clear the screen (or
    retitle the terminal) of whoever runs `cat` on the file."""
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial()
    await caller.say("blue\x1b[2J\x1b]0;owned\x07 elephants")
    await caller.hang_up()
    await add_account(client.app, "maria", Role.SUPERVISOR)
    await sign_in(client, "maria")
    export = await client.get("/console/insights/export/misheard.csv")
    body = await export.text()
    assert export.status == 200 and "\x1b" not in body and "\x07" not in body
    words = [row[1] for row in list(csv.reader(io.StringIO(body)))[1:]]
    assert words and all("\\x1b" in w for w in words), words
