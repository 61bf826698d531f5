"""Scale-out benchmark with a compiled load generator: wrk replays pre-signed calls.

benchmarks/cluster.py drives the servers from Python (aiohttp), which on a small machine
takes about a core from them. This runs the same three setups (the same server start-up:
cluster.backend and cluster.servers) with `wrk`, which uses a small fraction of that:

- every call is load.py's script (order status, repair status, goodbye, then the status
  callback: 8 webhooks), signed in advance with twilio's RequestValidator against the
  public URL; turn URLs are predictable (`/voice/turn?seq=N`), so no answer is needed to
  build the next request;
- the corpus is ordered round robin over blocks of calls (all first turns of a block, then
  all second turns...), so a call's next turn is sent a whole block of requests after the
  previous one, long after it was answered, and calls still complete within the run;
- each wrk thread replays its own calls (benchmarks/replay.lua), every request once: a
  repeated turn would be answered from the idempotency cache and inflate the figures.

An answer counts as a turn only if it is a 2xx saying what the script expects for the turn
it names; the fallback apology, other statuses, socket errors, and answers to turns that
were not asked (a turn overtaking the previous one) are errors.

    python benchmarks/wrk_cluster.py --seconds 20 --connections 128 --repeat 3 --json
    python benchmarks/wrk_cluster.py --config "2x pg+redis" --seconds 5

Needs wrk (apt-get install wrk) and what cluster.py needs (PostgreSQL, Redis, nginx).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio.request_validator import RequestValidator

from benchmarks import cluster, load

SCRIPT_LUA = Path(__file__).resolve().parent / "replay.lua"
TURNS = len(load.SCRIPT) + 1
"""Webhooks per call: the scripted turns, then the status callback."""
FALLBACK_MARKER = "/voice/after-transfer"
"""In every fallback answer (apology + hand-off) and in no answer of the scripted calls,
which never transfer."""
RESULT_PREFIX = "WRK_RESULT "


@dataclass(frozen=True)
class Webhook:
    """One signed request of the corpus, ready to replay."""

    turn: int
    """1 for the dial, then the script's turns; the answer to turn N names `seq=N`."""
    path: str
    """Path and query, as sent (the signature covers the public URL + this)."""
    signature: str
    body: str
    """The form, URL-encoded."""


def call_webhooks(
    base: str, validator: RequestValidator, script: list[tuple[str, str]] = load.SCRIPT
) -> list[Webhook]:
    """A new call's whole `script`, then its status callback, signed for `base` (the public URL
    the servers check against)."""
    common = {
        "CallSid": "CA" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": "+15550100001",
        "To": "+15550009999",
    }
    hooks = []
    for turn, (step, _) in enumerate(script, start=1):
        path = "/voice" if turn == 1 else f"/voice/turn?seq={turn - 1}"
        params = common if step == "dial" else {**common, "Digits": step.rstrip("#")}
        hooks.append(_signed(turn, base, path, params, validator))
    status = {**common, "CallStatus": "completed"}
    hooks.append(_signed(len(script) + 1, base, "/voice/status", status, validator))
    return hooks


def _signed(turn: int, base: str, path: str, params: dict[str, str], validator: RequestValidator) -> Webhook:
    return Webhook(turn, path, validator.compute_signature(base + path, params), urlencode(params))


def write_corpus(
    directory: Path,
    base: str,
    threads: int,
    calls_per_thread: int,
    block: int,
    script: list[tuple[str, str]] = load.SCRIPT,
) -> None:
    """The files replay.lua reads: expectations, the fallback marker, one corpus per thread."""
    directory.mkdir(parents=True, exist_ok=True)
    turns = len(script) + 1
    expect = []
    for turn, (_, text) in enumerate(script, start=1):
        kind = "final" if turn == len(script) else "gather"
        expect.append(f"{turn}\t200\t{kind}\t{text}\n")
    expect.append(f"{turns}\t204\tempty\t\n")
    (directory / "expect.tsv").write_text("".join(expect))
    (directory / "marker.txt").write_text(FALLBACK_MARKER)
    validator = RequestValidator(load.TOKEN)
    for thread in range(threads):
        with (directory / f"thread-{thread}.tsv").open("w") as out:
            for start in range(0, calls_per_thread, block):
                count = min(block, calls_per_thread - start)
                calls = [call_webhooks(base, validator, script) for _ in range(count)]
                for turn in range(turns):
                    out.writelines(_line(call[turn]) for call in calls)


def _line(hook: Webhook) -> str:
    return f"{hook.turn}\t{hook.path}\t{hook.signature}\t{hook.body}\n"


def run_wrk(base: str, corpus: Path, seconds: int, threads: int, connections: int) -> dict:
    """wrk against `base` for `seconds`: the counters replay.lua's done() prints, and the CPU
    time wrk used (including reading its corpus), to show what the servers did not get."""
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        "--latency",
        f"--script={SCRIPT_LUA}",
        base,
        "--",
        str(corpus),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            return {**json.loads(line.removeprefix(RESULT_PREFIX)), "client_cpu_s": cpu}
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def summarise(config: str, threads: int, connections: int, raw: dict) -> dict:
    """One result from wrk's counters, in load.summarise's terms where they match."""
    seconds = raw["duration_us"] / 1e6
    pairs = list(zip(raw["answered"], raw["sent"], strict=True))
    turns = sum(min(a, s) for a, s in pairs)
    misplaced = sum(max(0, a - s) for a, s in pairs)
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "config": config,
        "client": "wrk",
        "threads": threads,
        "connections": connections,
        "seconds": round(seconds, 1),
        "turns": turns,
        "turns_per_second": round(turns / seconds, 1),
        "completed_calls": raw["answered"][-1],
        "errors": socket_errors + raw["bad_status"] + raw["fallbacks"] + raw["unexpected"] + misplaced,
        "socket_errors": socket_errors,
        "bad_status": raw["bad_status"],
        "fallbacks": raw["fallbacks"],
        "unexpected": raw["unexpected"],
        "misplaced": misplaced,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "client_cpu_percent": round(100 * raw["client_cpu_s"] / seconds),
    }


def run(config: str, seconds: int, threads: int, connections: int, max_rate: int, block: int) -> dict:
    """Start `config`'s servers, replay a fresh corpus sized for `max_rate` turns/s, stop them."""
    count = 2 if config.startswith("2x") else 1
    calls_per_thread = math.ceil(max_rate * seconds / TURNS / threads / block) * block
    with (
        tempfile.TemporaryDirectory() as scratch,
        cluster.backend(config) as env,
        cluster.servers(env, count, Path(scratch), keepalive=max(64, connections)) as base,
    ):
        corpus = Path(scratch) / "corpus"
        write_corpus(corpus, base, threads, calls_per_thread, block)
        raw = run_wrk(base, corpus, seconds, threads, connections)
    if raw["exhausted"]:
        raise RuntimeError(f"{config}: the corpus ran out before the end; raise --max-rate above {max_rate}")
    return summarise(config, threads, connections, raw)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (requests in flight)")
    parser.add_argument(
        "--max-rate", type=int, default=6000, help="turns/s the corpus is sized for (a faster run fails)"
    )
    parser.add_argument(
        "--block",
        type=int,
        default=1000,
        help="calls per thread played round robin; a call's next turn waits a block of requests",
    )
    parser.add_argument("--config", choices=cluster.CONFIGS, action="append", help="default: all three")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; reports medians")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    if args.block < 4 * args.connections // args.threads:
        parser.error("--block must be at least 4 times the connections per thread, or turns may overtake")
    results = []
    for config in args.config or cluster.CONFIGS:
        runs = [
            run(config, args.seconds, args.threads, args.connections, args.max_rate, args.block)
            for _ in range(args.repeat)
        ]
        results.append(cluster.median(runs))
    cluster.add_speedup(results)
    cluster.report(results, as_json=args.json)


if __name__ == "__main__":
    main()
