"""What recording the insights adds to a call's turns: the same calls with and without it.

A call here is the four-turn order call of benchmarks/speed.py (main menu, key 1, order
4512, key 9) and its status callback, five webhooks taken by the real `SupportLine` of a
real app on SQLite, called in-process (no HTTP, no signature check: those cost the same
either way, so leaving them out makes the share larger, not smaller). "Without" turns off
exactly what this feature added to the webhooks: the engine's path times and answer notes
(kept in the session, so also the larger session saved each turn), and the database
trigger that files the call when its end is recorded (dropped, then created again). Blocks
of calls alternate between the two, so a noisy neighbour touches both alike; the figures are
process CPU time per call, the median and the lowest of the blocks (on a busy shared machine
the lowest is the steadier estimate).

Counting the filed calls into the roll-ups is batch work off the webhooks' path (every 15 s
in the server, and before each read); it is measured on its own, per call, at the end.

    python benchmarks/insight_cost.py --blocks 30 --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from ivr.flow.engine import FlowEngine
from ivr.insights.service import Insights
from ivr.line import SupportLine
from ivr.store.sqlite import _MIGRATIONS, SQLiteDatabase, script_statements
from ivr.web import app as app_module
from ivr.web.app import FLOWS, LINE, STORES, create_app
from tests.conftest import TODAY, load_demo_data, make_settings

FILING = 11
"""The SQLite migration that creates the filing triggers."""
_STAMP, _RECORD = FlowEngine._stamp, FlowEngine.__dict__["_record_input"]


async def recording(db: SQLiteDatabase, on: bool) -> None:
    FlowEngine._stamp = _STAMP if on else (lambda self, session, known: None)  # type: ignore[method-assign]
    FlowEngine._record_input = (  # type: ignore[method-assign]
        _RECORD if on else staticmethod(lambda session, state, event, trigger: None)
    )

    def triggers(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TRIGGER IF EXISTS calls_insight_filing_insert")
        conn.execute("DROP TRIGGER IF EXISTS calls_insight_filing_update")
        if on:
            for statement in script_statements(_MIGRATIONS[FILING]):
                conn.execute(statement)

    await db.run_in_thread(triggers)


async def one_call(line: SupportLine) -> None:
    params = {"CallSid": "CA" + secrets.token_hex(16), "From": "+15550100001", "To": "+15550009999"}
    await line.answer(params)
    for seq, digits in enumerate(("1", "4512#", "9"), start=1):
        await line.turn(seq, {**params, "Digits": digits}, {})
    await line.status({**params, "CallStatus": "completed"})


async def run(blocks: int, calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        settings = make_settings(Path(scratch))
        await load_demo_data(settings)
        app_module.FOLD_INSIGHTS_EVERY = 1e9  # measured on its own below, not inside the blocks
        app = create_app(settings, today=lambda: TODAY)
        runner = web.AppRunner(app)
        await runner.setup()
        line = app[LINE]
        db = SQLiteDatabase(Path(scratch) / "ivr.db")  # a second handle on the same file
        try:
            for _ in range(20):
                await one_call(line)  # warm up
            results: dict[bool, list[float]] = {True: [], False: []}
            for block in range(blocks * 2):
                on = block % 2 == 0
                await recording(db, on)
                start = time.process_time()
                for _ in range(calls):
                    await one_call(line)
                results[on].append((time.process_time() - start) / calls)
            await recording(db, True)
            await db.close()
            stores = app[STORES]
            counting = Insights(stores.sql, app[FLOWS], stores.calls, language=settings.language)
            start = time.process_time()
            counted = await counting.fold(None)
            fold_ms = (time.process_time() - start) / counted * 1000
        finally:
            await runner.cleanup()
    with_ms = statistics.median(results[True]) * 1000
    without_ms = statistics.median(results[False]) * 1000
    best_with, best_without = min(results[True]) * 1000, min(results[False]) * 1000
    return {
        "with_ms": with_ms,
        "without_ms": without_ms,
        "added_percent": (with_ms / without_ms - 1) * 100,
        "best_with_ms": best_with,
        "best_without_ms": best_without,
        "best_added_percent": (best_with / best_without - 1) * 100,
        "fold_ms": fold_ms,
        "fold_percent": fold_ms / without_ms * 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=30, help="blocks of calls per variant")
    parser.add_argument("--calls", type=int, default=50, help="calls per block")
    args = parser.parse_args()
    r = asyncio.run(run(args.blocks, args.calls))
    print(
        f"CPU per call (5 webhooks): with insights {r['with_ms']:.2f} ms, without {r['without_ms']:.2f} ms,"
        f" added {r['added_percent']:+.1f}% (medians);"
        f" lowest blocks {r['best_with_ms']:.2f} ms and {r['best_without_ms']:.2f} ms,"
        f" added {r['best_added_percent']:+.1f}%"
    )
    print(
        f"Counting a filed call into the roll-ups (batch, off the webhooks): {r['fold_ms']:.3f} ms a call,"
        f" {r['fold_percent']:.1f}% of a call's webhooks"
    )


if __name__ == "__main__":
    main()
