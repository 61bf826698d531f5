"""Scale-out benchmark: one SQLite instance vs one and two PostgreSQL + Redis instances.

The calls are benchmarks/load.py's (its script, signed webhooks and client processes);
this only changes what answers them:

- `sqlite`:     one `ivr serve`, SQLite (exactly what load.py runs);
- `pg+redis`:   one `ivr serve`, PostgreSQL (fresh schema) + Redis (live sessions);
- `2x pg+redis`: two `ivr serve` behind nginx (round-robin, ivr/testing/nginx.py), sharing both.

For the Redis configurations it also measures Redis memory per live call, sampled two
thirds into the run: the growth of INFO `used_memory` over the empty database divided by
the calls in progress, and the mean `MEMORY USAGE` of the session keys.

    python benchmarks/cluster.py --mode flat --calls 50 --seconds 20
    python benchmarks/cluster.py --mode paced --calls 1000 --seconds 60
    python benchmarks/cluster.py --mode flat --repeat 3 --json     # medians of 3 runs

Needs PostgreSQL (IVR_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test),
Redis (IVR_BENCH_REDIS_URL, default redis://127.0.0.1:6379/13: a database of its own, emptied
before and after) and nginx. The load generator shares the machine with the servers: on a
small machine it takes CPU from them, which limits what a second instance can add.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import load
from ivr.testing.nginx import free_port, run_nginx, wait_for_port

PG_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IVR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CONFIGS = ("sqlite", "pg+redis", "2x pg+redis")
STARTUP_SECONDS = 90
"""How long an instance may take to listen: on a machine at load 15 to 20, two workers took
more than 20 s (each loads the flow and trains the intent models of three languages)."""


def _redis():  # type: ignore[no-untyped-def]
    from redis import Redis

    return Redis.from_url(REDIS_URL, decode_responses=True)


def _redis_sample() -> dict:
    """Session keys now, how many are live, their mean MEMORY USAGE, and INFO used_memory."""
    client = _redis()
    try:
        keys = list(client.scan_iter("ivr:call:*", count=1000))
        live, sizes = 0, []
        for key in keys:
            data = client.hget(key, "data")
            if data and json.loads(data).get("status") == "in-progress":
                live += 1
            sizes.append(client.memory_usage(key) or 0)
        return {
            "keys": len(keys),
            "live": live,
            "key_bytes": statistics.mean(sizes) if sizes else 0,
            "used_memory": int(client.info("memory")["used_memory"]),
        }
    finally:
        client.close()


@contextmanager
def backend(config: str) -> Iterator[dict[str, str]]:
    """Environment for `ivr` commands: a temporary data directory, and for PostgreSQL a fresh schema."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "TWILIO_AUTH_TOKEN": load.TOKEN, "IVR_DATA_DIR": data_dir}
        if config == "sqlite":
            yield env
            return
        from ivr.store.postgres import PostgresDatabase, upgrade

        schema = f"bench_{secrets.token_hex(4)}"
        env["IVR_DATABASE_URL"] = f"{PG_URL}?schema={schema}"
        env["IVR_SESSION_URL"] = REDIS_URL
        asyncio.run(upgrade(PG_URL, schema=schema))  # `ivr db upgrade` ignores ?schema= (see report)
        _redis().flushdb()
        try:
            yield env
        finally:
            _redis().flushdb()
            asyncio.run(PostgresDatabase(PG_URL, schema=schema).drop_schema())


@contextmanager
def servers(
    env: dict[str, str], count: int, directory: Path, keepalive: int = 64, workers: int = 1
) -> Iterator[str]:
    """`count` instances (behind nginx when more than one); yields the public URL.

    `keepalive`: idle connections nginx keeps open to the instances, so a proxied request
    does not pay for a new upstream connection (see ivr/testing/nginx.py). `workers`: processes
    per instance (`ivr serve --workers`), sharing its port.
    """
    ivr = [sys.executable, "-m", "ivr"]
    for kind in ("orders", "warranties", "repairs"):
        subprocess.run(
            [*ivr, "import", kind, str(load.ROOT / "demo" / f"{kind}.csv")],
            env=env,
            check=True,
            capture_output=True,
        )
    ports = [free_port() for _ in range(count)]

    def start(public_url: str) -> list[subprocess.Popen[bytes]]:
        procs = [
            subprocess.Popen(
                [*ivr, "serve", "--port", str(port), "--log-level", "WARNING"]
                + (["--workers", str(workers)] if workers > 1 else []),
                env={**env, "PUBLIC_URL": public_url},
                stdout=subprocess.DEVNULL,
            )
            for port in ports
        ]
        for port in ports:
            if not wait_for_port(port, STARTUP_SECONDS):
                for proc in procs:  # none is left behind, holding its port and the database
                    proc.terminate()
                    proc.wait(10)
                raise RuntimeError(f"ivr serve on port {port} did not start")
        return procs

    procs: list[subprocess.Popen[bytes]] = []
    try:
        if count == 1:
            procs = start(f"http://127.0.0.1:{ports[0]}")
            yield f"http://127.0.0.1:{ports[0]}"
        else:
            with run_nginx(ports, directory / "nginx", keepalive=keepalive) as proxy:
                procs = start(proxy.url)
                yield proxy.url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def run(config: str, mode: str, calls: int, seconds: float, procs: int) -> dict:
    paced = mode == "paced"
    count = 2 if config.startswith("2x") else 1
    sample: dict = {}
    with (
        tempfile.TemporaryDirectory() as scratch,
        backend(config) as env,
        servers(env, count, Path(scratch)) as base,
    ):
        baseline = _redis_sample() if config != "sqlite" else None
        timer = None
        if baseline is not None:
            timer = threading.Timer(seconds * 2 / 3, lambda: sample.update(_redis_sample()))
            timer.start()
        stagger = 5.0 if paced else 0.5
        shares = [calls // procs + (1 if i < calls % procs else 0) for i in range(procs)]
        started = time.monotonic()
        with multiprocessing.Pool(procs) as pool:
            parts = pool.map(load._worker, [(base, n, seconds, paced, stagger) for n in shares if n])
        elapsed = time.monotonic() - started
        if timer is not None:
            timer.join()
    result = {"config": config, **load.summarise(mode, calls, elapsed, parts)}
    if baseline is not None and sample:
        result["redis_live_calls"] = sample["live"]
        result["redis_keys"] = sample["keys"]
        grown = sample["used_memory"] - baseline["used_memory"]
        result["redis_bytes_per_key_info"] = round(grown / sample["keys"]) if sample["keys"] else None
        result["redis_bytes_per_key_memory_usage"] = round(sample["key_bytes"])
    return result


def median(runs: list[dict]) -> dict:
    """One result per configuration: the median of each number over the runs."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and key != "concurrent_calls":
            values = [r[key] for r in runs if r.get(key) is not None]
            out[key] = round(statistics.median(values), 2) if values else None
    out["runs"] = len(runs)
    return out


def add_speedup(results: list[dict]) -> None:
    """Two instances' throughput over one's (both PostgreSQL + Redis), on the two-instance result."""
    single = next((r for r in results if r["config"] == "pg+redis"), None)
    double = next((r for r in results if r["config"] == "2x pg+redis"), None)
    if single and double and single["turns_per_second"]:
        double["speedup_vs_one_pg_redis"] = round(double["turns_per_second"] / single["turns_per_second"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["flat", "paced"], default="flat")
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument("--config", choices=CONFIGS, action="append", help="default: all three")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; reports medians")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for config in args.config or CONFIGS:
        runs = [run(config, args.mode, args.calls, args.seconds, args.procs) for _ in range(args.repeat)]
        results.append(median(runs))
    add_speedup(results)
    report(results, as_json=args.json)


def report(results: list[dict], *, as_json: bool) -> None:
    """One JSON list, or a line of key=value per configuration."""
    if as_json:
        print(json.dumps(results))
        return
    for result in results:
        print("  ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
