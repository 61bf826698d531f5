"""What events cost the line: the write beside each record, and sending them.

1. The write. An inbound survey answer is the smallest record that carries an event: before
   events it was one `INSERT`; now it is that `INSERT` and the event's, in one transaction
   (`ivr.store.surveys.SqlSurveyRecorder`). Blocks of answers alternate between the two
   (old, new; new, old; ...) on one SQLite file (the embedded default), so a noisy neighbour
   touches both alike; the figure is each side's median time per answer, in microseconds.
2. Sending. `--events` events are written to the outbox, then one `Deliverer` sends them to an
   endpoint on loopback in a process of its own (answering 204 at once): events per second
   on the clock, and the delivering process's CPU time per event.

    python benchmarks/events.py --pairs 20 --answers 50 --events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.deliveries import Deliverer, Destinations
from ivr.events import EventType
from ivr.store.event_outbox import EventOutbox, record_event
from ivr.store.sql import SQLiteSql
from ivr.store.sqlite import SQLiteDatabase
from ivr.store.surveys import SqlSurveyRecorder

ENDPOINT = """
import asyncio, sys
from aiohttp import web

async def take(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)

async def main() -> None:
    app = web.Application()
    app.router.add_post("/events", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/events", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    await runner.cleanup()

asyncio.run(main())
"""


@contextmanager
def endpoint_process() -> Iterator[str]:
    """The company's endpoint in a process of its own: its work is not counted as the line's."""
    endpoint = subprocess.Popen(
        [sys.executable, "-c", ENDPOINT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert endpoint.stdout is not None and endpoint.stdin is not None
        yield endpoint.stdout.readline().strip()
        endpoint.stdin.close()
        endpoint.wait(timeout=30)
    finally:
        if endpoint.poll() is None:
            endpoint.kill()


async def write_cost(folder: Path, pairs: int, answers: int) -> tuple[float, float]:
    """Median microseconds per survey answer: (one INSERT as before, the INSERT and its event)."""
    db = SQLiteDatabase(folder / "write.db")
    sql = SQLiteSql(db)
    recorder = SqlSurveyRecorder(sql)
    numbers = iter(range(10**9))

    async def before() -> None:
        await sql.execute(
            "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, NULL, $2, $3)"
            " ON CONFLICT (call_sid)"
            " DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at",
            f"CA{next(numbers)}",
            4,
            time.time(),
        )

    async def now() -> None:
        await recorder.record(f"CA{next(numbers)}", 4)

    await before()  # the schema, once
    times: dict[str, list[float]] = {"before": [], "with event": []}
    for pair in range(pairs):
        order = [("before", before), ("with event", now)]
        for name, write in order if pair % 2 == 0 else reversed(order):
            for _ in range(answers):
                started = time.perf_counter()
                await write()
                times[name].append(time.perf_counter() - started)
    await db.close()
    return statistics.median(times["before"]) * 1e6, statistics.median(times["with event"]) * 1e6


async def sending(folder: Path, events: int) -> tuple[float, float]:
    """(events per second, CPU milliseconds per event) for one worker sending `events`."""
    db = SQLiteDatabase(folder / "send.db")
    sql = SQLiteSql(db)
    for n in range(events):
        await record_event(
            sql, EventType.TEXT_SENT, f"SM{n}", {"message_sid": f"SM{n}", "number": "+1555"}, 0.0
        )
    with endpoint_process() as url:
        deliverer = Deliverer(EventOutbox(sql), Destinations(url, {}, "b" * 32))
        await deliverer.open()
        cpu, wall = time.process_time(), time.perf_counter()
        sent = await deliverer.deliver_due()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await deliverer.close()
    await db.close()
    assert sent == events, f"{sent} of {events} delivered"
    return events / wall, cpu / events * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--answers", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old, new = await write_cost(Path(tmp), args.pairs, args.answers)
        print(f"survey answer written: {old:.0f} us before, {new:.0f} us with its event (median, SQLite)")
        rate, cpu = await sending(Path(tmp), args.events)
        print(f"sending: {rate:.0f} events/s on the clock, {cpu:.2f} ms CPU per event (one worker, loopback)")


if __name__ == "__main__":
    asyncio.run(main())
