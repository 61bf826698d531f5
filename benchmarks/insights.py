"""The insights page's figures over 1,000,000 calls in 30 days, on SQLite and PostgreSQL.

The calls are generated as the roll-ups they would leave: a mix of call kinds (orders,
repairs, warranty, answers, agents answered and abandoned, not understood, hang-ups at the
main menu, callbacks...) each counted once by the real `call_counts` on the shipped flow,
in the line's time zone (`--zone`), then multiplied per hour by how many such calls that
hour had (busier in business hours, two languages, in- and outbound, version 1 for 15 days
then version 2, 200 different misheard phrases, 50,000 survey answers), spread over the
hour's quarters for volume; every queued call (about a quarter) keeps its own wait, drawn
around its kind's. What is timed is exactly what the page asks
(`ivr.console.insights._gather`: the period's figures with volume, the versions, the
languages and the comparison of the two versions), median of `--repeat` reads.

    python benchmarks/insights.py --backend sqlite --backend postgres
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.console.insights import _gather
from ivr.flow.files import LINE_FLOW, FlowFiles, compile_files, read_files
from ivr.insights.days import midnight
from ivr.insights.facts import Count, Metric, QueueVisit, call_counts
from ivr.insights.service import Insights
from ivr.insights.store import ADD, ADD_VOLUME, ADD_WAIT, merge
from ivr.session import CallSession
from ivr.store.sql import PostgresSql, Sql, SQLiteSql, sqlite_query
from ivr.testing.services import open_sql
from ivr.versions.store import FlowStore

ROOT = Path(__file__).resolve().parent.parent
FILES = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
FLOW = compile_files(FILES).flow
DAYS = 30
CALLS = 1_000_000
PHRASES = [f"misheard phrase number {n}" for n in range(200)]
KEY, SPEECH = "key", "speech"


def _session(path: list[str], times: list[float], outcome: str, **fields: Any) -> CallSession:
    s = CallSession("CA", "+15550100001", "+15550009999", "support", path[-1], 0.0)
    s.path, s.path_at, s.outcome, s.ended_at = path, times, outcome, times[-1]
    for name, value in fields.items():
        setattr(s, name, value)
    return s


def _ok(state: str, how: str = KEY) -> list[str]:
    return [state, how, "ok"]


def kinds() -> list[tuple[int, CallSession, QueueVisit | None]]:
    """(weight per 100 calls, the call, its queue entry)."""
    order = ["welcome", "main_menu", "order_number", "find_order", "order_status", "order_more", "goodbye"]
    repair = [
        "welcome",
        "main_menu",
        "repair_ticket",
        "find_repair",
        "repair_status",
        "anything_else",
        "goodbye",
    ]
    warranty = ["welcome", "main_menu", "warranty_serial", "find_warranty", "warranty_active"]
    warranty += ["anything_else", "goodbye"]
    faq = ["welcome", "main_menu", "faq_menu", "faq_hours", "anything_else", "goodbye"]
    t7 = [0.0, 5.0, 14.0, 24.0, 24.0, 31.0, 38.0]
    three = [["main_menu", SPEECH, "no_match"]] * 3
    out: list[tuple[int, CallSession, QueueVisit | None]] = []
    for how, weight in ((KEY, 20), (SPEECH, 10)):
        inputs = [_ok("main_menu", how), _ok("order_number"), _ok("order_more")]
        out.append((weight, _session(order, t7, "resolved", inputs=inputs), None))
    out.append((12, _session(repair, t7, "resolved", inputs=[_ok("main_menu"), _ok("repair_ticket")]), None))
    out.append(
        (8, _session(warranty, t7, "resolved", inputs=[_ok("main_menu"), _ok("warranty_serial")]), None)
    )
    out.append(
        (15, _session(faq, t7[:6], "resolved", inputs=[_ok("main_menu", SPEECH), _ok("faq_menu")]), None)
    )
    agent = ["welcome", "main_menu", "agent"]
    for wait, weight in ((45.0, 5), (150.0, 4), (400.0, 3)):
        s = _session(agent, [0.0, 5.0, 9.0 + wait + 240], "transferred", transfer_reason="caller_asked")
        s.inputs = [_ok("main_menu")]
        out.append((weight, s, QueueVisit("done", 10.0, 10.0 + wait, 250.0 + wait)))
    s = _session(
        agent, [0.0, 5.0, 130.0], "transferred", transfer_reason="caller_asked", inputs=[_ok("main_menu")]
    )
    out.append((4, s, QueueVisit("abandoned", 10.0, None, 130.0)))
    s = _session(
        agent, [0.0, 5.0, 200.0], "transferred", transfer_reason="caller_asked", inputs=[_ok("main_menu")]
    )
    out.append((2, s, QueueVisit("callback", 10.0, None, 200.0)))
    s = _session(["welcome", "main_menu", "agent_not_understood"], [0.0, 5.0, 40.0], "transferred")
    s.transfer_reason, s.inputs, s.misheard = "not_understood", three, [["main_menu", "x"]] * 3
    out.append((5, s, QueueVisit("done", 41.0, 100.0, 300.0)))
    out.append((6, _session(["welcome", "main_menu"], [0.0, 5.0], "abandoned"), None))
    silent = [["main_menu", "silence", "no_input"]] * 3
    out.append(
        (
            3,
            _session(
                ["welcome", "main_menu", "goodbye_no_input"], [0.0, 5.0, 30.0], "no_input", inputs=silent
            ),
            None,
        )
    )
    failed = ["welcome", "main_menu", "order_number", "find_order", "ask_postal_code", "check_postal_code"]
    failed += ["order_mismatch", "offer_agent", "agent_after_failures"]
    s = _session(
        failed, [0.0, 5, 12, 20, 20, 30, 30, 31, 40], "transferred", transfer_reason="self_service_failed"
    )
    s.inputs = [_ok("main_menu"), _ok("order_number"), _ok("ask_postal_code"), _ok("offer_agent")]
    out.append((3, s, QueueVisit("done", 41.0, 120.0, 400.0)))
    assert sum(w for w, _, _ in out) == 100
    return out


def generated(first_hour: int, zone: tzinfo) -> Iterator[Count]:
    """The counts of CALLS calls over DAYS days from `first_hour`, as `call_counts` gives them."""
    rng = random.Random(15)
    hours = DAYS * 24
    shape = [
        (3.0 if 8 <= h % 24 <= 18 else 0.6) * (0.5 if (h // 24) % 7 in (5, 6) else 1.0) for h in range(hours)
    ]
    shares = {
        ("en", "inbound"): 0.72,
        ("es", "inbound"): 0.18,
        ("en", "outbound"): 0.08,
        ("es", "outbound"): 0.02,
    }
    cells = [
        (share * weight / 100, session, queue, language, direction)
        for (language, direction), share in shares.items()
        for weight, session, queue in kinds()
    ]
    zipf = [1 / (n + 1) for n in range(len(PHRASES))]
    made = 0.0
    done = 0
    serial = 0
    for offset in range(hours):
        version = 1 if offset < hours // 2 else 2
        for share, session, queue, language, direction in cells:
            made += CALLS * shape[offset] / sum(shape) * share
            n = round(made) - done  # cumulative rounding: exactly CALLS in all
            done += n
            if not n:
                continue
            session.started_at = (first_hour + offset) * 3600.0 + 60
            session.flow_version = version
            counts = call_counts(
                session,
                FLOW,
                queue=queue,
                after_hours_voicemail=False,
                language=language,
                direction=direction,
                zone=zone,
            )
            for c in counts:
                if c.metric is Metric.MISHEARD:
                    continue
                if c.metric is Metric.QUEUE_WAIT:  # each call its own wait
                    for _ in range(n):
                        serial += 1
                        wait = c.total * rng.lognormvariate(0, 0.5)
                        yield dataclasses.replace(c, key=f"CA{serial:09d}", total=wait)
                elif c.metric is Metric.CALLS:  # over the hour's four quarters
                    for part in range(4):
                        share = n // 4 + (part < n % 4)
                        if share:
                            yield dataclasses.replace(
                                c, quarter=c.quarter + part, count=share, total=c.total * share
                            )
                else:
                    yield dataclasses.replace(c, count=n, total=c.total * n)
            if session.misheard:
                for phrase in rng.choices(PHRASES, zipf, k=min(3 * n, 40)):
                    yield dataclasses.replace(counts[0], metric=Metric.MISHEARD, key=f"main_menu\t{phrase}")


async def load(sql: Sql, first_hour: int, zone: tzinfo) -> tuple[int, int]:
    merged = merge(generated(first_hour, zone))
    day_rows = [(*key, int(n), float(t)) for key, (n, t) in merged.days.items()]
    hour_rows = [(*key, int(n), float(t)) for key, (n, t) in merged.quarters.items()]
    waits = merged.waits
    surveys = [
        (f"CA{n:08d}", None, 1 + (n * 7919) % 5, first_hour * 3600.0 + (n * 51.84) % (DAYS * 86400))
        for n in range(50_000)
    ]
    survey_sql = "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, $2, $3, $4)"
    if isinstance(sql, SQLiteSql):

        def bulk(conn: Any) -> None:
            conn.execute("BEGIN")
            conn.executemany(sqlite_query(ADD), day_rows)
            conn.executemany(sqlite_query(ADD_VOLUME), hour_rows)
            conn.executemany(sqlite_query(ADD_WAIT), waits)
            conn.executemany(sqlite_query(survey_sql), surveys)
            conn.execute("COMMIT")
            conn.execute("ANALYZE")

        await sql.db.run_in_thread(bulk)
    else:
        assert isinstance(sql, PostgresSql)
        async with sql.db.pool.acquire() as conn:
            for table, records in (
                ("insight_counts", day_rows),
                ("insight_volume", hour_rows),
                ("insight_waits", waits),
                ("survey_answers", surveys),
            ):
                for start in range(0, len(records), 10_000):
                    chunk = records[start : start + 10_000]
                    await conn.copy_records_to_table(table, records=chunk, schema_name=sql.db.schema)
            tables = ("insight_counts", "insight_volume", "insight_waits", "survey_answers")
            for table in tables:
                await conn.execute(f"ANALYZE {table}")
    flows = FlowStore(sql)
    await flows.publish(LINE_FLOW, by="bench", files=FILES)
    await flows.publish(LINE_FLOW, by="bench", files=FlowFiles(FILES.flow + "\n# v2\n", FILES.prompts))
    return len(day_rows) + len(hour_rows), len(waits)


class _NoCalls:
    """No call is filed in this benchmark: the fold before each read finds nothing."""

    async def get_call(self, call_sid: str) -> None:
        return None


async def measure(backend: str, repeat: int, zone: tzinfo) -> dict[str, Any]:
    today = datetime.now(zone).date()
    since = today - timedelta(days=DAYS - 1)
    first_hour = int(midnight(since, zone)) // 3600
    with tempfile.TemporaryDirectory() as scratch:
        async with open_sql(backend, Path(scratch)) as sql:
            start = time.perf_counter()
            count, waits = await load(sql, first_hour, zone)
            loaded = time.perf_counter() - start
            insights = Insights(sql, FlowStore(sql), _NoCalls(), language="en", zone=zone)  # type: ignore[arg-type]
            view = _View(since, today)
            timings: dict[str, list[float]] = defaultdict(list)
            result: dict[str, Any] = {}
            for _ in range(repeat):
                for name, v in (("all", view), ("es, version 2", _View(since, today, 2, "es"))):
                    start = time.perf_counter()
                    result[name] = await _gather(insights, v)  # type: ignore[arg-type]
                    timings[name].append(time.perf_counter() - start)
    return {
        "backend": backend,
        "rollup_rows": count,
        "waits": waits,
        "load_seconds": round(loaded, 1),
        "calls": result["all"]["figures"]["calls"],
        "queue_wait": result["all"]["figures"]["queue_wait"],
        "page_ms": {name: round(statistics.median(t) * 1000) for name, t in timings.items()},
    }


class _View:
    """The page's filters (as `ivr.console.insights.View` reads them from a request)."""

    def __init__(
        self, since: Any, until: Any, version: int | None = None, language: str | None = None
    ) -> None:
        self.since, self.until, self.version, self.language = since, until, version, language
        self.older = self.newer = None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zone", default="America/New_York", help="the line's time zone")
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgres"]:
        r = asyncio.run(measure(backend, args.repeat, ZoneInfo(args.zone)))
        print(
            f"{r['backend']:9} {r['calls']:>9,} calls in {DAYS} days ({args.zone}),"
            f" {r['rollup_rows']:,} roll-up rows and {r['waits']:,} queue waits"
            f" (loaded in {r['load_seconds']} s); the page's figures: "
            + ", ".join(f"{name} {ms} ms" for name, ms in r["page_ms"].items())
            + f"; queue wait {r['queue_wait']}"
        )


if __name__ == "__main__":
    main()
