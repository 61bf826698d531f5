"""What recording the insights adds to a call's turns: the same calls with and without it.

A call here is four turns and its status callback: the caller on file takes the caller-ID
offer with key 1 and hears the order's status, then at "anything else?" keys 4512# (not
understood) and 9 (goodbye); five webhooks taken by the real `SupportLine` of a real app on
SQLite, called in-process (no HTTP, no signature check: those cost the same
either way, so leaving them out makes the share larger, not smaller). "Without" turns off
exactly what this feature added to the webhooks: the engine's path times and answer notes
(kept in the session, so also the larger session saved each turn), and the database
trigger that files the call when its end is recorded (dropped, then created again).
`--only notes` or `--only filing` turns off that part alone.

Blocks of calls alternate between the two in pairs, the order flipped from one pair to the
next (with, without; without, with; ...), so that a noisy neighbour or a slow drift touches
both alike. Each pair gives a ratio of process CPU time per call; the figure is the median
of the pairs' ratios, with the quartiles as its spread. `--control` runs the same rounds
with recording on in both halves: its ratios show how far this machine's noise alone moves
the figure (what a real difference must exceed). Each block starts with one call that is
not timed: dropping or making the trigger changes the schema, and SQLite then prepares every
statement of the connection again on its next use (with the trigger's program when it is
there), a cost a server pays once, which timed it went to the "with" blocks (+1.5 points).

`--http` takes the same calls through the real server: a second process serves the app on
loopback HTTP, the calls come as Twilio sends them (form-encoded, signed), and the figure is
that server process's CPU time per call: what a turn costs on a server.

`--instructions` counts instead the machine instructions a call executes, with and without,
under valgrind's callgrind (the same calls in four processes: 50 and 250 calls each way; the
difference between the two counts is what the 200 further calls cost, start-up excluded):
exact and untouched by other processes, though it leaves out what instructions do not show
(cache misses, the kernel's work for the database's writes).

Counting the filed calls into the roll-ups is batch work off the webhooks' path (every 15 s
in the server, and before each read); it is measured on its own, per call, at the end.

    python benchmarks/insight_cost.py --pairs 400 --calls 20
    python benchmarks/insight_cost.py --pairs 400 --calls 20 --control
    python benchmarks/insight_cost.py --pairs 400 --calls 20 --http [--control]
    python benchmarks/insight_cost.py --instructions
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, web

from ivr.flow.engine import FlowEngine
from ivr.insights.service import Insights
from ivr.line import SupportLine
from ivr.store.sqlite import FILING_TRIGGERS, SQLiteDatabase, script_statements
from ivr.testing.caller import PUBLIC_URL, sign
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.testing.nginx import free_port
from ivr.web import lifecycles
from ivr.web.app import create_app
from ivr.web.keys import FLOWS, LINE, STORES

SIDS = random.Random(15)
"""Call SIDs as random as Twilio's, but the same in every run: the instruction counts repeat."""
_STAMP, _RECORD = FlowEngine._stamp, FlowEngine.__dict__["_record_input"]


PARTS = ("notes", "filing")
"""What recording is: the engine's notes (path times, answers) and the database's filing."""


async def recording(db: SQLiteDatabase, on: bool, parts: tuple[str, ...] = PARTS) -> None:
    """Recording on, or off in `parts` (the others stay on)."""
    notes = on or "notes" not in parts
    FlowEngine._stamp = _STAMP if notes else (lambda self, session, known: None)  # type: ignore[method-assign]
    FlowEngine._record_input = (  # type: ignore[method-assign]
        _RECORD if notes else staticmethod(lambda session, state, event, trigger: None)
    )

    def triggers(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TRIGGER IF EXISTS calls_insight_filing_insert")
        conn.execute("DROP TRIGGER IF EXISTS calls_insight_filing_update")
        if on or "filing" not in parts:
            for statement in script_statements(FILING_TRIGGERS):
                conn.execute(statement)

    await db.run_in_thread(triggers)


def settled() -> None:
    """After the warm-up: what the process holds so far (modules, the app) is set aside from
    the garbage collector's full passes, which otherwise scan it every so often. Where such a
    pass falls was the largest difference between two counts (one pass more in one of the
    four runs moved the figure by several points), and it has nothing to do with recording."""
    gc.collect()
    gc.freeze()


async def demo_app(scratch: Path) -> tuple[web.Application, SQLiteDatabase, str]:
    """The real app on SQLite in `scratch`, with the demo data and no background counting (it
    is measured on its own), a second handle on its database to switch the triggers, and the
    line's language."""
    settings = make_settings(scratch)
    await load_demo_data(settings)
    lifecycles.FOLD_INSIGHTS_EVERY = 1e9
    app = create_app(settings, today=lambda: TODAY)
    return app, SQLiteDatabase(scratch / "ivr.db"), settings.language


def summary(per_call: dict[bool, list[float]]) -> dict[str, float]:
    """Medians of each side's CPU per call (ms), and the median and quartiles of the pairs' ratios."""
    ratios = [(w / wo - 1) * 100 for w, wo in zip(per_call[True], per_call[False], strict=True)]
    quartiles = statistics.quantiles(ratios, n=4)
    return {
        "with_ms": statistics.median(per_call[True]) * 1000,
        "without_ms": statistics.median(per_call[False]) * 1000,
        "added_percent": statistics.median(ratios),
        "q1": quartiles[0],
        "q3": quartiles[2],
    }


async def one_call(line: SupportLine) -> None:
    params = {"CallSid": "CA" + SIDS.randbytes(16).hex(), "From": "+15550100001", "To": "+15550009999"}
    await line.answer(params)
    for seq, digits in enumerate(("1", "4512#", "9"), start=1):
        await line.turn(seq, {**params, "Digits": digits}, {})
    await line.status({**params, "CallStatus": "completed"})


async def run(pairs: int, calls: int, control: bool, parts: tuple[str, ...]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        app, db, language = await demo_app(Path(scratch))
        runner = web.AppRunner(app)
        await runner.setup()
        line = app[LINE]
        try:
            for _ in range(20):
                await one_call(line)  # warm up
            settled()
            per_call: dict[bool, list[float]] = {True: [], False: []}
            for pair in range(pairs):
                for on in (True, False) if pair % 2 == 0 else (False, True):
                    await recording(db, on or control, parts)
                    await one_call(line)  # untimed: prepares the statements again (see above)
                    start = time.process_time()
                    for _ in range(calls):
                        await one_call(line)
                    per_call[on].append((time.process_time() - start) / calls)
            await recording(db, True)
            await db.close()
            stores = app[STORES]
            counting = Insights(stores.sql, app[FLOWS], stores.calls, language=language)
            start = time.process_time()
            counted = await counting.fold(None)
            fold_ms = (time.process_time() - start) / counted * 1000
        finally:
            await runner.cleanup()
    figures = summary(per_call)
    return {**figures, "fold_ms": fold_ms, "fold_percent": fold_ms / figures["without_ms"] * 100}


async def exactly(calls: int, on: bool) -> None:
    """`calls` calls after 20 to warm up, with or without recording (one callgrind process)."""
    with tempfile.TemporaryDirectory() as scratch:
        app, db, _ = await demo_app(Path(scratch))
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await recording(db, on)
            for _ in range(20):
                await one_call(app[LINE])
            settled()
            for _ in range(calls):
                await one_call(app[LINE])
        finally:
            await db.close()
            await runner.cleanup()


async def serve(port: int) -> None:
    """The app on loopback HTTP (one `--http` run's server process), with two routes for the
    benchmark: switch recording (`/bench/recording?on=1&parts=…`), read this process's CPU
    time (`/bench/cpu`)."""
    with tempfile.TemporaryDirectory() as scratch:
        app, db, _ = await demo_app(Path(scratch))

        async def switch(request: web.Request) -> web.Response:
            parts = tuple(request.query["parts"].split(","))
            await recording(db, request.query["on"] == "1", parts)
            return web.Response(text="ok")

        async def cpu(request: web.Request) -> web.Response:
            return web.Response(text=repr(time.process_time()))

        app.router.add_post("/bench/recording", switch)
        app.router.add_post("/bench/cpu", cpu)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        settled()
        print("ready", flush=True)
        try:
            await asyncio.Event().wait()  # until the benchmark ends this process
        finally:
            await db.close()
            await runner.cleanup()


async def post(client: ClientSession, url: str, params: dict[str, str]) -> str:
    """A webhook as Twilio sends it: form-encoded, signed for the public URL."""
    parts = urlsplit(url if url.startswith("http") else PUBLIC_URL + url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(parts.geturl(), params),
    }
    async with client.post(path, data=urlencode(params), headers=headers) as response:
        body = await response.text()
        assert response.status in (200, 204), f"{response.status}: {body}"
        return body


async def http_call(client: ClientSession) -> None:
    """`one_call`'s webhooks over HTTP, each turn posted to the action its last answer gave."""
    params = {
        "CallSid": "CA" + SIDS.randbytes(16).hex(),
        "AccountSid": "AC" + "0" * 32,
        "From": "+15550100001",
        "To": "+15550009999",
        "CallStatus": "in-progress",
        "Direction": "inbound",
    }
    twiml = await post(client, "/voice", params)
    for digits in ("1", "4512#", "9"):
        gather = ET.fromstring(twiml).find("Gather")
        assert gather is not None, twiml
        twiml = await post(client, gather.get("action", ""), {**params, "Digits": digits})
    await post(client, "/voice/status", {**params, "CallStatus": "completed"})


async def run_http(pairs: int, calls: int, control: bool, parts: tuple[str, ...]) -> dict[str, float]:
    """As `run`, through a server process on loopback HTTP: its CPU time per call."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(port), stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        while (await server.stdout.readline()).strip() != b"ready":
            pass
        async with ClientSession(base_url=f"http://127.0.0.1:{port}") as client:

            async def cpu() -> float:
                async with client.post("/bench/cpu") as response:
                    return float(await response.text())

            for _ in range(20):
                await http_call(client)  # warm up
            per_call: dict[bool, list[float]] = {True: [], False: []}
            for pair in range(pairs):
                for on in (True, False) if pair % 2 == 0 else (False, True):
                    query = {"on": "1" if on or control else "0", "parts": ",".join(parts)}
                    async with client.post("/bench/recording", params=query):
                        pass
                    await http_call(client)  # untimed: prepares the statements again
                    start = await cpu()
                    for _ in range(calls):
                        await http_call(client)
                    per_call[on].append((await cpu() - start) / calls)
    finally:
        server.terminate()
        await server.wait()
    return summary(per_call)


FEW, MANY = 50, 250


def instructions() -> dict[bool, float]:
    """Instructions per call with and without recording, counted by callgrind."""
    counts: dict[tuple[bool, int], int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for on in (True, False):
            for calls in (FEW, MANY):
                out = Path(scratch) / f"callgrind.{on}.{calls}"
                variant = ["--exactly", str(calls), "--variant", "on" if on else "off"]
                subprocess.run(
                    [
                        "valgrind",
                        "--tool=callgrind",
                        f"--callgrind-out-file={out}",
                        sys.executable,
                        __file__,
                        *variant,
                    ],
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                    check=True,
                    capture_output=True,
                )
                found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
                assert found, f"no instruction count in {out}"
                counts[(on, calls)] = int(found.group(1))
    return {on: (counts[(on, MANY)] - counts[(on, FEW)]) / (MANY - FEW) for on in (True, False)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=60, help="pairs of blocks (one with, one without)")
    parser.add_argument("--calls", type=int, default=50, help="calls per block")
    parser.add_argument("--control", action="store_true", help="recording on in both halves (noise alone)")
    parser.add_argument("--only", choices=PARTS, help="turn off only this part of recording")
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument(
        "--http", action="store_true", help="through a server on loopback HTTP (its CPU time)"
    )
    parser.add_argument("--exactly", type=int, help=argparse.SUPPRESS)  # one callgrind process
    parser.add_argument("--variant", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the --http run's server, on this port
    args = parser.parse_args()
    if args.exactly is not None:
        asyncio.run(exactly(args.exactly, args.variant == "on"))
        return
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    if args.instructions:
        per_call = instructions()
        print(
            f"Instructions per call (5 webhooks, callgrind): with insights {per_call[True]:,.0f},"
            f" without {per_call[False]:,.0f}, added {(per_call[True] / per_call[False] - 1) * 100:+.2f}%"
        )
        return
    parts = (args.only,) if args.only else PARTS
    r = asyncio.run((run_http if args.http else run)(args.pairs, args.calls, args.control, parts))
    label = "control (on in both halves)" if args.control else "with insights and without"
    if args.only:
        label += f" its {args.only}"
    where = (
        "the server's CPU per call (5 signed webhooks over HTTP)"
        if args.http
        else "CPU per call (5 webhooks)"
    )
    print(
        f"{where}, {label}: {r['with_ms']:.3f} ms and {r['without_ms']:.3f} ms (medians);"
        f" added {r['added_percent']:+.2f}% (median of {args.pairs} pairs; quartiles"
        f" {r['q1']:+.2f}% to {r['q3']:+.2f}%)"
    )
    if "fold_ms" in r:
        print(
            "Counting a filed call into the roll-ups (batch, off the webhooks):"
            f" {r['fold_ms']:.3f} ms a call, {r['fold_percent']:.1f}% of a call's webhooks"
        )


if __name__ == "__main__":
    main()
