"""The insights' SQL on SQLite and PostgreSQL: finished calls in, the same figures out."""

from __future__ import annotations

import time
from datetime import UTC

from ivr.flow.files import compile_files, read_files
from ivr.insights.days import QUARTER, local_day
from ivr.insights.facts import QueueVisit, call_counts
from ivr.insights.report import figures
from ivr.insights.store import Filter, InsightStore, SqlSurveyAnswers
from ivr.session import CallSession
from ivr.store.sql import Sql
from tests.conftest import ROOT

FLOW = compile_files(read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")).flow
NOW = time.time()
DAY = local_day(NOW, UTC)
FIRST = DAY * 86400 // QUARTER
"""The first quarter hour of today (UTC)."""


def today(day: int = 0, version: int | None = None) -> Filter:
    """Today's calls, or those `day` days later, on UTC days."""
    return Filter("support", DAY + day, DAY + day + 1, FIRST + day * 96, FIRST + (day + 1) * 96, version)


def session(sid: str, path: list[str], outcome: str, **fields: object) -> CallSession:
    s = CallSession(sid, "+15550100001", "+15550009999", "support", path[-1], NOW, flow_version=1)
    s.path, s.outcome, s.ended_at = list(path), outcome, NOW + 60
    for name, value in fields.items():
        setattr(s, name, value)
    return s


async def add(store: InsightStore, s: CallSession, queue: QueueVisit | None = None, vm: bool = False) -> None:
    counts = call_counts(
        s, FLOW, queue=queue, after_hours_voicemail=vm, language="en", direction="inbound", zone=UTC
    )
    await store.add(counts)


async def test_calls_of_each_kind_are_counted_the_same_on_both_databases(sql: Sql) -> None:
    store = InsightStore(sql)
    order = ["welcome", "main_menu", "order_number", "find_order", "order_status", "order_more", "goodbye"]
    times = [0.0, 4.0, 9.0, 15.0, 15.0, 21.0, 30.0]
    inputs = [["main_menu", "key", "ok"], ["order_number", "key", "ok"], ["order_more", "key", "ok"]]
    await add(store, session("CA1", order, "resolved", path_at=times, inputs=inputs))
    # a record written before this release: no times, no inputs, no recorded reason
    await add(store, session("CA2", ["welcome", "main_menu", "agent"], "transferred"), vm=True)
    asked = session(
        "CA3",
        ["welcome", "main_menu", "agent_not_understood"],
        "transferred",
        transfer_reason="not_understood",
        inputs=[["main_menu", "speech", "no_match"]] * 3,
        misheard=[["main_menu", "Blue  Elephants"]] * 3,
    )
    await add(store, asked, QueueVisit("abandoned", NOW + 10, None, NOW + 55))
    await add(store, session("CA4", ["welcome", "main_menu", "goodbye_no_input"], "no_input"))
    await sql.execute(
        "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, NULL, $2, $3)",
        "CA1",
        4,
        NOW,
    )
    await sql.execute(
        "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, $2, $3, $4)",
        "CA9",
        "nps",
        2,
        NOW,
    )

    f = await figures(store, SqlSurveyAnswers(sql), FLOW, today(), UTC, detail=True)
    assert (f["calls"], f["contained"], f["transferred"], f["abandoned"]) == (4, 1, 2, 1)
    assert f["transfer_reasons"] == {"caller_asked": 1, "not_understood": 1}
    assert f["handoff_results"] == {"abandoned": 1, "after_hours_voicemail": 1}
    assert f["abandoned_wait_seconds"] == 45.0
    assert f["queue_wait"] == {"calls": 1, "median_seconds": 45.0, "p90_seconds": 45.0}
    assert f["drop_off"] == {"main_menu": 1}, "a goodbye after silence belongs to the menu"
    assert f["no_match_rate"]["main_menu"] == 0.75
    assert f["misheard"]["main_menu"] == [{"words": "blue elephants", "calls": 3}]
    order_path = f["paths"][0]
    assert order_path["path"] == "order_number"
    assert (order_path["calls"], order_path["answered"], order_path["answer_seconds"]) == (1, 1, 15.0)
    assert [step["calls"] for step in order_path["funnel"]] == [1, 1, 1]
    assert f["satisfaction"]["average"] == 3.0
    assert f["satisfaction"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert sum(sum(row) for row in f["volume"]["heat_map"]) == 4

    other_version = await figures(store, SqlSurveyAnswers(sql), FLOW, today(version=2), UTC)
    assert other_version["calls"] == 0
    assert other_version["queue_wait"] == {"calls": 0, "median_seconds": None, "p90_seconds": None}
    assert (await figures(store, SqlSurveyAnswers(sql), FLOW, today(1), UTC))["satisfaction"] is None


def test_the_shipped_flow_names_its_main_menu_and_paths() -> None:
    from ivr.insights.paths import answer_states, main_menu, main_paths

    assert main_menu(FLOW) == "main_menu"
    assert main_paths(FLOW)[:4] == ["order_number", "repair_ticket", "warranty_serial", "faq_menu"]
    assert {"order_status", "repair_status", "warranty_active", "faq_hours"} <= answer_states(FLOW)
    assert "order_mismatch" not in answer_states(FLOW), "an apology that asks again is no answer"
