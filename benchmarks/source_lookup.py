"""What a lookup over HTTP adds to a turn: the same turn on local tables and from a shop.

The turn is a caller not on file keying `4512#` after pressing 1 for orders: `find_order` reads the
order (and asks for its postal code). It runs through the real `SupportLine` of a real app
on SQLite with the demo data, called in-process; the HTTP side is the Shopify preset
(`sources/shopify.yaml`) against `ivr/testing/fake_shop.py` in a process of its own, answering
each request after `--answer-ms` (1 ms by default). Every call is a new call,
so the per-call cache never answers and each measured turn asks the shop.

Blocks of calls alternate between the two lines (local, http; http, local; ...), so a noisy
neighbour touches both alike. The figures are the differences of the medians of each side's
time per turn, in milliseconds: on the clock (what the caller waits: the shop's own wait, the
loopback round trip and the line's work) and in the line process's CPU time (what the client,
its budget, breaker, session and mapping cost the server).

    python benchmarks/source_lookup.py --pairs 40 --calls 25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from ivr.line import SupportLine
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.testing.fake_shop import SHOPIFY_TOKEN
from ivr.web.app import create_app
from ivr.web.keys import LINE

SIDS = random.Random(25)
STRANGERS = iter(range(10**6))
"""Each call from a new number not on file: one number may look up 20 numbers a day."""


SHOP = """
import asyncio, sys
from ivr.testing.fake_shop import FakeShop, Trouble, shopify_order

async def main() -> None:
    shop = FakeShop()
    shop.shopify[4512] = shopify_order(4512, "+15550100001", "fulfilled", shipment="in_transit")
    answer = float(sys.argv[1]) / 1000
    shop.always = Trouble(delay=answer) if answer else None
    print(await shop.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    await shop.stop()

asyncio.run(main())
"""


@contextmanager
def shop_process(answer_ms: float) -> Iterator[str]:
    """The fake shop in a process of its own, as a real shop is: its work takes neither the
    line's event loop nor its interpreter lock."""
    shop = subprocess.Popen(
        [sys.executable, "-c", SHOP, str(answer_ms)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert shop.stdout is not None
        yield shop.stdout.readline().strip()
    finally:
        assert shop.stdin is not None
        shop.stdin.close()
        shop.wait(timeout=10)


async def line_on(scratch: Path, **env: str) -> tuple[SupportLine, web.AppRunner]:
    settings = make_settings(scratch, **env)
    await load_demo_data(settings)
    app = create_app(settings, today=lambda: TODAY)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the start-up: the database, the sources' session
    return app[LINE], runner


async def timed_turn(line: SupportLine) -> tuple[float, float]:
    """One call up to the order number; the seconds the order-number turn took, on the clock
    and in this process's CPU time."""
    caller = f"+1555{next(STRANGERS):07d}"
    params = {"CallSid": "CA" + SIDS.randbytes(16).hex(), "From": caller, "To": "+15550009999"}
    await line.answer(params)
    await line.turn(1, {**params, "Digits": "1"}, {})
    start, cpu = time.perf_counter(), time.process_time()
    twiml = await line.turn(2, {**params, "Digits": "4512#"}, {})
    took = time.perf_counter() - start, time.process_time() - cpu
    assert "postal code" in twiml, twiml
    await line.status({**params, "CallStatus": "completed"})
    return took


async def run(pairs: int, calls: int, answer_ms: float) -> dict[str, float]:
    with shop_process(answer_ms) as url, tempfile.TemporaryDirectory() as scratch:
        local, local_runner = await line_on(Path(scratch) / "local")
        http, http_runner = await line_on(
            Path(scratch) / "http",
            IVR_SOURCES=str(ROOT / "sources" / "shopify.yaml"),
            SHOPIFY_STORE_URL=url,
            SHOPIFY_ACCESS_TOKEN=SHOPIFY_TOKEN,
        )
        try:
            for line in (local, http):
                for _ in range(20):
                    await timed_turn(line)  # warm up: statements prepared, connections open
            times: dict[str, list[tuple[float, float]]] = {"local": [], "http": []}
            for pair in range(pairs):
                for name in ("local", "http") if pair % 2 == 0 else ("http", "local"):
                    line = local if name == "local" else http
                    times[name] += [await timed_turn(line) for _ in range(calls)]
        finally:
            await local_runner.cleanup()
            await http_runner.cleanup()

    def median_ms(name: str, which: int) -> float:
        return statistics.median(t[which] for t in times[name]) * 1000

    local_ms, http_ms = median_ms("local", 0), median_ms("http", 0)
    return {
        "local_ms": round(local_ms, 3),
        "http_ms": round(http_ms, 3),
        "added_ms": round(http_ms - local_ms, 3),
        "added_beyond_answer_ms": round(http_ms - local_ms - answer_ms, 3),
        "local_cpu_ms": round(median_ms("local", 1), 3),
        "http_cpu_ms": round(median_ms("http", 1), 3),
        "added_cpu_ms": round(median_ms("http", 1) - median_ms("local", 1), 3),
        "turns_each": len(times["local"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--answer-ms", type=float, default=1.0, help="the shop's wait before each answer")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.pairs, args.calls, args.answer_ms)), indent=2))


if __name__ == "__main__":
    main()
