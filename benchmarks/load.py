"""Load benchmark: N concurrent complete calls against one `ivr serve` process.

Each simulated caller plays a whole call with signed webhooks over loopback
(order status, then repair status, then goodbye, then the status callback) and
starts another when it hangs up, until the time is up. Two modes:

- flat: every caller answers at once (measures capacity: turns per second);
- paced: every caller waits as long as its prompt would take to hear before
  answering (measures latency under a realistic number of live calls).

Callers run in several client processes so the load generator is not the
bottleneck. Reports turns/s, p50/p99 turn latency, errors, and whether every
call followed its script exactly.

    python benchmarks/load.py --mode flat --calls 200 --seconds 20
    python benchmarks/load.py --mode paced --calls 1000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-secret"
WORDS_PER_SECOND = 2.7
"""Roughly how fast a phone prompt is spoken; paced callers listen this long."""

# (what the caller does, text the answer must contain)
SCRIPT: list[tuple[str, str]] = [
    ("dial", "Press 1 or say yes"),  # the caller ID's latest order is offered
    ("2", "order number"),  # "for another order, press 2"
    ("4512#", "has shipped with UPS"),
    ("1", "press 1 for orders"),  # the main menu
    ("2", "repair ticket"),
    ("3141#", "waiting for parts"),
    ("9", "Goodbye"),
]
_ACTION = re.compile(r'<Gather[^>]*action="([^"]+)"')
_SAY = re.compile(r"<Say[^>]*>([^<]*)</Say>")
_TURN_BUCKET = re.compile(r'ivr_turn_seconds_bucket\{kind="([a-z_]+)",le="([^"]+)"\} (\S+)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _one_call(session: aiohttp.ClientSession, base: str, paced: bool, stats: dict) -> None:
    validator = RequestValidator(TOKEN)
    sid = "CA" + secrets.token_hex(16)
    common = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+15550100001", "To": "+15550009999"}
    url = base + "/voice"
    for step, expect in SCRIPT:
        params = dict(common)
        if step != "dial":
            params["Digits"] = step.rstrip("#")
        signature = validator.compute_signature(url, params)
        started = time.perf_counter()
        try:
            async with session.post(
                url,
                data=urlencode(params),
                headers={
                    "X-Twilio-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ) as response:
                body = await response.text()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok, body = False, ""
        stats["latencies"].append(time.perf_counter() - started)
        if not ok or expect not in body:
            stats["errors"] += 1
            return
        stats["turns"] += 1
        match = _ACTION.search(body)
        if paced:
            words = sum(len(text.split()) for text in _SAY.findall(body))
            await asyncio.sleep(words / WORDS_PER_SECOND + 1.0)  # listen, then press keys
        if match is None:
            break
        url = match.group(1).replace("&amp;", "&")
    params = {**common, "CallStatus": "completed"}
    status_url = base + "/voice/status"
    headers = {
        "X-Twilio-Signature": validator.compute_signature(status_url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    started = time.perf_counter()
    async with session.post(status_url, data=urlencode(params), headers=headers) as response:
        await response.read()
        stats["latencies"].append(time.perf_counter() - started)
        if response.status == 204:
            stats["turns"] += 1
            stats["calls"] += 1
        else:
            stats["errors"] += 1


async def _callers(base: str, count: int, seconds: float, paced: bool, stagger: float) -> dict:
    stats: dict = {"latencies": [], "turns": 0, "errors": 0, "calls": 0}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def caller(index: int) -> None:
            await asyncio.sleep(stagger * index / max(count, 1))
            while time.monotonic() < deadline:
                await _one_call(session, base, paced, stats)

        await asyncio.gather(*(caller(i) for i in range(count)))
    return stats


def _worker(args: tuple[str, int, float, bool, float]) -> dict:
    return asyncio.run(_callers(*args))


def run(mode: str, calls: int, seconds: float, procs: int, port: int | None = None) -> dict:
    paced = mode == "paced"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_DATA_DIR": data_dir}
        port = port or _free_port()
        base = f"http://127.0.0.1:{port}"
        env["PUBLIC_URL"] = base
        ivr = [sys.executable, "-m", "ivr"]
        for kind in ("orders", "warranties", "repairs"):
            subprocess.run(
                [*ivr, "import", kind, str(ROOT / "demo" / f"{kind}.csv")],
                env=env,
                check=True,
                capture_output=True,
            )
        server = subprocess.Popen(
            [*ivr, "serve", "--port", str(port), "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            stagger = 5.0 if paced else 0.5
            shares = [calls // procs + (1 if i < calls % procs else 0) for i in range(procs)]
            started = time.monotonic()
            with multiprocessing.Pool(procs) as pool:
                parts = pool.map(_worker, [(base, n, seconds, paced, stagger) for n in shares if n])
            elapsed = time.monotonic() - started
            served = server_times(base)
        finally:
            server.terminate()
            server.wait(10)
    return {**summarise(mode, calls, elapsed, parts), **served}


def server_times(base: str) -> dict:
    """How many voice webhooks the server itself answered within 5 and 10 ms (its `/metrics`
    histogram, from the handler's start to its end).

    The latencies the callers measure also hold the time a request waited for the server's
    event loop and for the CPU, the callers' own included: on a machine with more runnable
    processes than cores, that waiting is most of the slow tail, and this tells the two apart.
    """
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {"0.005": 0.0, "0.01": 0.0, "+Inf": 0.0}
    for line in text.splitlines():
        match = _TURN_BUCKET.match(line)
        if match and match.group(1) in ("answer", "turn") and match.group(2) in counts:
            counts[match.group(2)] += float(match.group(3))
    total = counts["+Inf"] or 1.0
    return {
        "server_within_5ms_percent": round(100 * counts["0.005"] / total, 2),
        "server_within_10ms_percent": round(100 * counts["0.01"] / total, 2),
    }


def summarise(mode: str, calls: int, elapsed: float, parts: list[dict]) -> dict:
    """One result from the client processes' counters: throughput, latency, errors."""
    latencies = sorted(x for p in parts for x in p["latencies"])
    turns = sum(p["turns"] for p in parts)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "mode": mode,
        "concurrent_calls": calls,
        "seconds": round(elapsed, 1),
        "turns": turns,
        "turns_per_second": round(turns / elapsed, 1),
        "completed_calls": sum(p["calls"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["flat", "paced"], default="flat")
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.mode, args.calls, args.seconds, args.procs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:18} {value}")


if __name__ == "__main__":
    main()
