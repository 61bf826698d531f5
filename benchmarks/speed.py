"""Turns per second of `ivr serve` beside the floor server, and one worker beside two.

Every configuration answers the same signed call (`benchmarks/load.py`'s `SCRIPT`: the
caller-ID offer, another order 4512, the main menu, repair 3141, goodbye, then the status
callback), replayed by `wrk` with one
thread (it takes a few percent of a core; see benchmarks/wrk_cluster.py for how calls are
signed in advance and every answer checked). The configurations:

- `floor`:        benchmarks/floor_server.py, a bare aiohttp handler that checks the
                  signature and answers constant TwiML (its answers are counted, not checked);
- `durable floor`: the same with `--durable`: each webhook also reads and compare-and-sets
                  its call's state row in SQLite and appends its turn row before answering,
                  as `ivr serve` does, with the sizes `ivr serve` writes on this call (measured
                  first, below), and nothing else (no flow): the least a turn with crash-proof
                  state costs;
- `durable 3 KB`: the durable floor as it was: one 3 KB session row rewritten every turn, no
                  turn row (what `ivr serve` wrote before the turn row; for comparison);
- `sqlite`:       `ivr serve`, one process, SQLite;
- `sqlite x2`:    `ivr serve --workers 2`, SQLite shared by both;
- `pg+redis`:     `ivr serve`, PostgreSQL + Redis;
- `pg+redis x2`:  `ivr serve --workers 2`, PostgreSQL + Redis.

Before the rounds, the call is played once through the real line on SQLite (in-process) and
the bytes each webhook writes are printed: the state row and the turn row (its transcript
lines and its answer's record).

Rounds run every configuration once, one after the other, so a noisy neighbour on a shared
machine touches all of them alike; the report gives the median of the rounds and the ratios
(`sqlite` / `floor`, `durable floor` / `floor`, two workers / one).

    python benchmarks/speed.py --rounds 3 --seconds 15
    python benchmarks/speed.py --config floor --config sqlite --rounds 3

Needs wrk; the PostgreSQL configurations need what benchmarks/cluster.py needs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from benchmarks import cluster, load, wrk_cluster
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.testing.nginx import free_port, wait_for_port
from ivr.web.app import create_app
from ivr.web.keys import LINE

SCRIPT: list[tuple[str, str]] = [
    ("dial", "Press 1 or say yes"),  # the caller ID's latest order is offered
    ("2", "order number"),  # "for another order, press 2"
    ("4512#", "has shipped with UPS"),
    ("9", "Goodbye"),
]
"""The four-turn call: (what the caller does, text the answer must contain)."""
CONFIGS = ("floor", "durable floor", "durable 3 KB", "sqlite", "sqlite x2", "pg+redis", "pg+redis x2")
RATIOS = (
    ("sqlite", "floor"),
    ("durable floor", "floor"),
    ("durable 3 KB", "floor"),
    ("sqlite", "durable floor"),
    ("sqlite x2", "sqlite"),
    ("pg+redis x2", "pg+redis"),
    ("pg+redis", "sqlite"),
)


async def written_bytes() -> list[tuple[str, int, int]]:
    """(webhook, state row bytes, turn row bytes) for each webhook of `SCRIPT` but the status
    callback (which files the call whole), as the real line writes them on SQLite."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = make_settings(Path(scratch))
        await load_demo_data(settings)
        app = create_app(settings, today=lambda: TODAY)
        runner = web.AppRunner(app)
        await runner.setup()
        line = app[LINE]
        params = {"CallSid": "CA" + "0" * 32, "From": "+15550100001", "To": "+15550009999"}
        db = sqlite3.connect(Path(scratch) / "ivr.db")
        sizes = []
        try:
            for seq, (step, _) in enumerate(SCRIPT):
                if step == "dial":
                    await line.answer(params)
                else:
                    await line.turn(seq, {**params, "Digits": step.rstrip("#")}, {})
                state, turn = db.execute(
                    "SELECT length(CAST(data AS BLOB)), (SELECT length(CAST(lines AS BLOB))"
                    " + length(CAST(answer AS BLOB)) FROM call_turns t WHERE t.call_sid = c.call_sid"
                    " ORDER BY seq DESC LIMIT 1) FROM calls c WHERE call_sid = ?",
                    (params["CallSid"],),
                ).fetchone()
                sizes.append((step, state, turn))
        finally:
            db.close()
            await runner.cleanup()
    return sizes


@contextmanager
def floor_server(durable: Path | None = None, sizes: tuple[int, int] = (3000, 0)) -> Iterator[str]:
    """benchmarks/floor_server.py on a free port (keeping calls in `durable` if given, with
    `sizes`: the state's and each turn row's bytes); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(Path(__file__).parent / "floor_server.py"), "--port", str(port)]
    if durable is not None:
        command += [
            "--durable",
            str(durable),
            "--session-bytes",
            str(sizes[0]),
            "--turn-bytes",
            str(sizes[1]),
        ]
    env = {**os.environ, "TWILIO_AUTH_TOKEN": load.TOKEN}
    proc = subprocess.Popen([*command, "--public-url", url], env=env)
    try:
        if not wait_for_port(port):
            raise RuntimeError("the floor server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def serving(config: str, scratch: Path, sizes: tuple[int, int]) -> Iterator[str]:
    """The servers of `config`, started and stopped around the block; yields the URL to call."""
    if config in FLOORS:
        durable = scratch / "floor.db" if config != "floor" else None
        with floor_server(durable, sizes if config == "durable floor" else (3000, 0)) as url:
            yield url
        return
    backend, _, times = config.partition(" x")
    with cluster.backend(backend) as env, cluster.servers(env, 1, scratch, workers=int(times or 1)) as url:
        yield url


FLOORS = ("floor", "durable floor", "durable 3 KB")


def run(config: str, seconds: int, connections: int, max_rate: int, sizes: tuple[int, int]) -> dict:
    """One wrk run of `seconds` against a fresh start of `config`."""
    turns_per_call = len(SCRIPT) + 1
    block = max(4000, 4 * connections)  # a call's next turn comes ~2 s later: never overtakes
    calls = math.ceil(max_rate * seconds / turns_per_call / block) * block
    with tempfile.TemporaryDirectory() as scratch, serving(config, Path(scratch), sizes) as url:
        corpus = Path(scratch) / "corpus"
        wrk_cluster.write_corpus(corpus, url, 1, calls, block, script=SCRIPT)
        raw = wrk_cluster.run_wrk(url, corpus, seconds, 1, connections)
    if raw["exhausted"]:
        raise RuntimeError(f"{config}: the corpus ran out; raise --max-rate above {max_rate}")
    result = wrk_cluster.summarise(config, 1, connections, raw)
    if config in FLOORS:  # constant answers: every 2xx is a turn
        answered = raw["responses"] - raw["bad_status"] - result["socket_errors"]
        result.update(turns=answered, turns_per_second=round(answered / result["seconds"], 1))
        result.update(errors=raw["bad_status"] + result["socket_errors"], unexpected=0, misplaced=0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50, help="concurrent callers (wrk connections)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration; reports medians")
    parser.add_argument("--max-rate", type=int, default=12000, help="turns/s the corpus is sized for")
    parser.add_argument("--config", choices=CONFIGS, action="append", help="default: all")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    configs = args.config or list(CONFIGS)
    written = asyncio.run(written_bytes())
    for step, state, turn in written:
        print(
            f"written per webhook: {step:6} state {state:>5} bytes  turn row {turn:>5} bytes", file=sys.stderr
        )
    sizes = (
        round(statistics.median(state for _, state, _ in written)),
        round(statistics.median(turn for _, _, turn in written)),
    )
    print(
        f"the durable floor writes a state of {sizes[0]} and a turn row of {sizes[1]} bytes", file=sys.stderr
    )
    runs: dict[str, list[dict]] = {config: [] for config in configs}
    for round_number in range(1, args.rounds + 1):
        for config in configs:
            result = run(config, args.seconds, args.connections, args.max_rate, sizes)
            runs[config].append(result)
            print(
                f"round {round_number} {config:12} {result['turns_per_second']:>9} turns/s"
                f"  p99 {result['p99_ms']} ms  errors {result['errors']}",
                file=sys.stderr,
                flush=True,
            )
    results = [cluster.median(runs[config]) for config in configs]
    by_config = {result["config"]: result for result in results}
    for top, bottom in RATIOS:
        if top in by_config and bottom in by_config and by_config[bottom]["turns_per_second"]:
            ratio = by_config[top]["turns_per_second"] / by_config[bottom]["turns_per_second"]
            by_config[top][f"x_{bottom.replace(' ', '_')}"] = round(ratio, 2)
    cluster.report(results, as_json=args.json)


if __name__ == "__main__":
    main()
