"""Turns per second of `ivr serve` beside the floor server, and one worker beside two.

Every configuration answers the same signed call (`benchmarks/load.py`'s `SCRIPT`: the
caller-ID offer, another order 4512, the main menu, repair 3141, goodbye, then the status
callback), replayed by `wrk` with one
thread (it takes a few percent of a core; see benchmarks/wrk_cluster.py for how calls are
signed in advance and every answer checked). The configurations:

- `floor`:        benchmarks/floor_server.py, a bare aiohttp handler that checks the
                  signature and answers constant TwiML (its answers are counted, not checked);
- `durable floor`: the same with `--durable`: each webhook also reads and compare-and-sets
                  its call's session row in SQLite before answering, as `ivr serve` does, and
                  nothing else (no flow): the least a turn with crash-proof state costs;
- `sqlite`:       `ivr serve`, one process, SQLite;
- `sqlite x2`:    `ivr serve --workers 2`, SQLite shared by both;
- `pg+redis`:     `ivr serve`, PostgreSQL + Redis;
- `pg+redis x2`:  `ivr serve --workers 2`, PostgreSQL + Redis.

Rounds run every configuration once, one after the other, so a noisy neighbour on a shared
machine touches all of them alike; the report gives the median of the rounds and the ratios
(`sqlite` / `floor`, `durable floor` / `floor`, two workers / one).

    python benchmarks/speed.py --rounds 3 --seconds 15
    python benchmarks/speed.py --config floor --config sqlite --rounds 3

Needs wrk; the PostgreSQL configurations need what benchmarks/cluster.py needs.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import cluster, load, wrk_cluster
from ivr.testing.nginx import free_port, wait_for_port

SCRIPT: list[tuple[str, str]] = [
    ("dial", "Press 1 or say yes"),  # the caller ID's latest order is offered
    ("2", "order number"),  # "for another order, press 2"
    ("4512#", "has shipped with UPS"),
    ("9", "Goodbye"),
]
"""The four-turn call: (what the caller does, text the answer must contain)."""
CONFIGS = ("floor", "durable floor", "sqlite", "sqlite x2", "pg+redis", "pg+redis x2")
RATIOS = (
    ("sqlite", "floor"),
    ("durable floor", "floor"),
    ("sqlite", "durable floor"),
    ("sqlite x2", "sqlite"),
    ("pg+redis x2", "pg+redis"),
    ("pg+redis", "sqlite"),
)


@contextmanager
def floor_server(durable: Path | None = None) -> Iterator[str]:
    """benchmarks/floor_server.py on a free port (keeping sessions in `durable` if given);
    yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(Path(__file__).parent / "floor_server.py"), "--port", str(port)]
    if durable is not None:
        command += ["--durable", str(durable)]
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
def serving(config: str, scratch: Path) -> Iterator[str]:
    """The servers of `config`, started and stopped around the block; yields the URL to call."""
    if config in ("floor", "durable floor"):
        with floor_server(scratch / "floor.db" if config == "durable floor" else None) as url:
            yield url
        return
    backend, _, times = config.partition(" x")
    with cluster.backend(backend) as env, cluster.servers(env, 1, scratch, workers=int(times or 1)) as url:
        yield url


def run(config: str, seconds: int, connections: int, max_rate: int) -> dict:
    """One wrk run of `seconds` against a fresh start of `config`."""
    turns_per_call = len(SCRIPT) + 1
    block = max(4000, 4 * connections)  # a call's next turn comes ~2 s later: never overtakes
    calls = math.ceil(max_rate * seconds / turns_per_call / block) * block
    with tempfile.TemporaryDirectory() as scratch, serving(config, Path(scratch)) as url:
        corpus = Path(scratch) / "corpus"
        wrk_cluster.write_corpus(corpus, url, 1, calls, block, script=SCRIPT)
        raw = wrk_cluster.run_wrk(url, corpus, seconds, 1, connections)
    if raw["exhausted"]:
        raise RuntimeError(f"{config}: the corpus ran out; raise --max-rate above {max_rate}")
    result = wrk_cluster.summarise(config, 1, connections, raw)
    if config in ("floor", "durable floor"):  # constant answers: every 2xx is a turn
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
    runs: dict[str, list[dict]] = {config: [] for config in configs}
    for round_number in range(1, args.rounds + 1):
        for config in configs:
            result = run(config, args.seconds, args.connections, args.max_rate)
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
