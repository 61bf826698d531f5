"""The insights in the line's own days and hours, and exact queue wait percentiles.

A line in New York reads its figures in New York time: a call at 23:30 belongs to that
evening (not to the next UTC day), the night the clocks go forward has no 02:00 calls, the
night they go back has two 01:00 hours, and a period of days means New York days. Calls are
filed the way the line files them (their records kept, counted by the fold), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import ConfigError
from ivr.flow.files import LINE_FLOW, compile_files, read_files
from ivr.insights.facts import QueueVisit, call_counts
from ivr.insights.service import Insights, Period
from ivr.insights.store import Filter, InsightStore
from ivr.session import CallSession
from ivr.store.accounts import Role
from ivr.store.backends import build_stores
from ivr.store.sql import PostgresSql, Sql
from ivr.testing.demo_line import ROOT, TODAY, make_settings
from ivr.versions.store import FlowStore
from ivr.web.app import create_app
from ivr.web.keys import STORES
from ivr.web.startup import line_zone, load_hours
from tests.console import add_account, console_client, sign_in

pytestmark = pytest.mark.process

NEW_YORK = ZoneInfo("America/New_York")
FILES = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
FLOW = compile_files(FILES).flow
RESOLVED = ["welcome", "main_menu", "faq_menu", "faq_hours", "anything_else", "goodbye"]


def at(text: str, fold: int = 0) -> float:
    """A New York wall-clock time ('2026-03-06 23:30') as seconds since the epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK, fold=fold).timestamp()


def finished(sid: str, started: float) -> CallSession:
    """A call resolved by the line, its record as the line keeps it when the call ends."""
    s = CallSession(sid, "+15550100001", "+15550009999", "support", "goodbye", started, flow_version=1)
    s.path, s.path_at = list(RESOLVED), [0.0, 4.0, 9.0, 15.0, 21.0, 30.0]
    s.outcome, s.status, s.ended_at = "resolved", "completed", started + 60
    return s


CALLS = {
    "CAevening": at("2026-03-06 23:30"),  # a Friday evening: 04:30 UTC on the Saturday
    "CAmorning": at("2026-03-07 00:30"),  # the same UTC day, the next New York day
    "CAbefore": at("2026-03-08 01:30"),  # clocks go forward at 02:00 to 03:00
    "CAafter": at("2026-03-08 03:30"),
    "CAfirst": at("2026-11-01 01:30", fold=0),  # clocks go back at 02:00 to 01:00: 01:30 EDT
    "CAsecond": at("2026-11-01 01:30", fold=1),  # ... and 01:30 EST, an hour later
    "CAlate": at("2026-11-01 23:30"),  # a Sunday: 04:30 UTC on the Monday
}


def days(first: str, last: str | None = None) -> Period:
    return Period(date.fromisoformat(first), date.fromisoformat(last or first))


async def test_days_and_hours_are_the_lines_own_across_midnight_and_clock_changes(database_url: str) -> None:
    stores = build_stores(database_url)
    await stores.open()
    try:
        await FlowStore(stores.sql).publish(LINE_FLOW, by="test", files=FILES)
        for sid, started in CALLS.items():
            await stores.calls.archive(finished(sid, started))  # files the call for counting
        await stores.sql.execute(
            "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, NULL, $2, $3)",
            "CAevening",
            5,
            at("2026-03-06 23:45"),
        )
        insights = Insights(stores.sql, FlowStore(stores.sql), stores.calls, language="en", zone=NEW_YORK)

        evening = await insights.figures(days("2026-03-06"), detail=True)
        assert evening["time_zone"] == "America/New_York"
        assert evening["calls"] == 1, "23:30 in New York is that evening's call, not the next UTC day's"
        assert evening["volume"]["per_day"] == [{"day": "2026-03-06", "inbound": 1}]
        assert evening["volume"]["per_hour"] == [
            {"hour": "2026-03-06T23:00-05:00", "direction": "inbound", "calls": 1}
        ]
        assert evening["volume"]["heat_map"][4][23] == 1, "Friday, 23:00"
        assert evening["satisfaction"]["trend"] == [{"day": "2026-03-06", "average": 5.0}]
        assert (await insights.figures(days("2026-03-07")))["calls"] == 1

        forward = await insights.figures(days("2026-03-08"), detail=True)
        assert forward["calls"] == 2
        assert [h["hour"] for h in forward["volume"]["per_hour"]] == [
            "2026-03-08T01:00-05:00",
            "2026-03-08T03:00-04:00",
        ]
        assert forward["volume"]["heat_map"][6][1:4] == [1, 0, 1], "Sunday: no 02:00 that night"

        back = await insights.figures(days("2026-11-01"), detail=True)
        assert back["calls"] == 3, "the day the clocks go back has 25 hours, 23:30 included"
        assert [h["hour"] for h in back["volume"]["per_hour"]] == [
            "2026-11-01T01:00-04:00",
            "2026-11-01T01:00-05:00",
            "2026-11-01T23:00-05:00",
        ], "two 01:00 hours"
        assert back["volume"]["heat_map"][6][1] == 2 and back["volume"]["heat_map"][6][23] == 1
        assert back["volume"]["per_day"] == [{"day": "2026-11-01", "inbound": 3}]
        assert (await insights.figures(days("2026-11-02")))["calls"] == 0, "Monday in UTC only"

        whole = await insights.figures(days("2026-03-01", "2026-11-30"), detail=True)
        assert whole["calls"] == len(CALLS)
        assert sum(map(sum, whole["volume"]["heat_map"])) == len(CALLS)
        assert [v["first"] for v in await insights.versions()] == ["2026-03-06T23:30-05:00"]
    finally:
        await stores.close()


def queued(sid: str, version: int) -> CallSession:
    s = CallSession(sid, "+15550100001", "+15550009999", "support", "agent", 1_790_000_000.0)
    s.path, s.outcome, s.transfer_reason, s.flow_version = (
        ["welcome", "main_menu", "agent"],
        "",
        "caller_asked",
        version,
    )
    return s


async def test_queue_wait_median_and_90th_percentile_are_exact(sql: Sql) -> None:
    rng = random.Random(7)
    joined = 1_790_000_010.0
    taken = [joined + round(rng.expovariate(1 / 90), 3) for _ in range(137)]
    waits = {f"CA{n}": left - joined for n, left in enumerate(taken)}  # what the queue's times say
    store = InsightStore(sql)
    for n, (sid, left) in enumerate(zip(waits, taken, strict=True)):
        s = queued(sid, version=1 + n % 2)
        queue = QueueVisit("done", joined, left, joined + 900)
        counts = call_counts(
            s, FLOW, queue=queue, after_hours_voicemail=False, language="en", direction="inbound", zone=UTC
        )
        await store.add(counts)
    day = 1_790_000_000 // 86400
    everything = Filter("support", day, day + 1, day * 96, (day + 1) * 96)

    found = await store.waits(everything)
    values = list(waits.values())
    assert found.calls == 137
    assert found.median == pytest.approx(statistics.median(values), abs=1e-9)
    assert found.p90 == pytest.approx(statistics.quantiles(values, n=10, method="inclusive")[8], abs=1e-9)
    if isinstance(sql, PostgresSql):  # the same as PostgreSQL's own percentiles
        row = await sql.fetchone(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median,"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) AS p90 FROM insight_waits"
        )
        assert row is not None
        assert (found.median, found.p90) == pytest.approx((row["median"], row["p90"]), abs=1e-9)

    even = [w for n, w in enumerate(values) if n % 2 == 1]  # version 2: 68 calls
    second = await store.waits(Filter("support", day, day + 1, day * 96, (day + 1) * 96, version=2))
    assert second.calls == 68
    assert second.median == pytest.approx(statistics.median(even), abs=1e-9)
    assert second.p90 == pytest.approx(statistics.quantiles(even, n=10, method="inclusive")[8], abs=1e-9)
    nobody = await store.waits(Filter("support", day + 1, day + 2, (day + 1) * 96, (day + 2) * 96))
    assert (nobody.calls, nobody.median, nobody.p90) == (0, None, None)

    for version, few in ((3, [12.5]), (4, [20.0, 10.0])):  # the smallest periods
        for n, wait in enumerate(few):
            s = queued(f"CAfew{version}{n}", version)
            visit = QueueVisit("done", 0.0, wait, 900.0)
            counts = call_counts(
                s,
                FLOW,
                queue=visit,
                after_hours_voicemail=False,
                language="en",
                direction="inbound",
                zone=UTC,
            )
            await store.add(counts)
    one = await store.waits(Filter("support", day, day + 1, day * 96, (day + 1) * 96, version=3))
    assert (one.calls, one.median, one.p90) == (1, 12.5, 12.5)
    two = await store.waits(Filter("support", day, day + 1, day * 96, (day + 1) * 96, version=4))
    assert (two.calls, two.median, two.p90) == (2, 15.0, pytest.approx(19.0))


def test_the_lines_time_zone_is_its_hours_zone_or_the_setting(tmp_path: Path) -> None:
    assert line_zone(make_settings(tmp_path), None) == UTC
    chosen = make_settings(tmp_path, IVR_TIME_ZONE="Europe/Stockholm")
    assert line_zone(chosen, None) == ZoneInfo("Europe/Stockholm")
    with pytest.raises(ConfigError, match="IVR_TIME_ZONE 'Mars/Olympus' is not a time zone"):
        make_settings(tmp_path, IVR_TIME_ZONE="Mars/Olympus")

    hours = str(ROOT / "flows" / "hours.yaml")  # America/New_York
    with_hours = make_settings(tmp_path, IVR_HOURS=hours)
    assert line_zone(with_hours, load_hours(with_hours)) == NEW_YORK
    both = make_settings(tmp_path, IVR_HOURS=hours, IVR_TIME_ZONE="Europe/Berlin")
    with pytest.raises(ConfigError, match="is not the time zone of the business hours"):
        line_zone(both, load_hours(both))


async def test_the_page_its_csv_and_ivr_stats_count_the_lines_own_days(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    env = {"IVR_HOURS": str(ROOT / "flows" / "hours.yaml")}  # America/New_York
    settings = make_settings(tmp_path, **env)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    for sid, started in CALLS.items():
        await client.app[STORES].calls.archive(finished(sid, started))
    await add_account(client.app, "maria", Role.SUPERVISOR)
    await sign_in(client, "maria")

    query = "since=2026-03-06&until=2026-03-08"
    page = await (await client.get(f"/console/insights?{query}")).text()
    assert "Days and hours in the line's time zone, America/New_York." in page
    assert 'id="calls">4<' in page
    per_day = await (await client.get(f"/console/insights/export/volume.csv?{query}")).text()
    assert per_day.splitlines() == [
        "day,inbound,outbound",
        "2026-03-06,1,0",
        "2026-03-07,1,0",
        "2026-03-08,2,0",
    ]
    per_hour = await (await client.get(f"/console/insights/export/volume_hours.csv?{query}")).text()
    assert per_hour.splitlines() == [
        "hour,inbound,outbound",
        "2026-03-06T23:00-05:00,1,0",
        "2026-03-07T00:00-05:00,1,0",
        "2026-03-08T01:00-05:00,1,0",
        "2026-03-08T03:00-04:00,1,0",
    ]

    stats = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr", "stats", "--since", "2026-11-01", "--until", "2026-11-01", "--json"],
        env={**os.environ, "IVR_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert (figures["time_zone"], figures["calls"], figures["contained"]) == ("America/New_York", 3, 3)
