"""`ivr serve --workers 2`: two processes on one port (SO_REUSEPORT) sharing one SQLite file.

Every request goes over a connection of its own, so the kernel spreads them over both
workers; which worker answered is read from the JSON log (`pid`) after the server stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.store.backends import build_stores
from ivr.testing.caller import TOKEN, Caller
from ivr.testing.demo_line import DEMO, ROOT
from ivr.testing.nginx import free_port

pytestmark = pytest.mark.process

CALLS = 12
ORDER_PATH = [
    "welcome",
    "find_return",
    "find_repair_booking",
    "find_caller",
    "caller_orders",  # "for another order, press 2"
    "order_number",
    "find_order",
    "order_status",
    "tracking_text_check",
    "order_more",
    "goodbye",
]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_file: Path

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def log(self) -> list[dict[str, Any]]:
        lines = self.log_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
        "PUBLIC_URL": url,
    }
    for kind in ("orders", "warranties", "repairs"):
        imported = subprocess.run(
            [sys.executable, "-m", "ivr", "import", kind, str(DEMO / f"{kind}.csv")],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert imported.returncode == 0, imported.stderr
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ivr",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--log-format",
                "json",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(url, env, process, log_file)
    try:
        # Announced once both workers listen (before that the first one alone would take every call).
        deadline = time.monotonic() + 60
        while "Support line listening" not in log_file.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ivr serve --workers 2 did not start: {log_file.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


class _OwnConnection:
    """What `Caller` needs of a test client: every request on a new connection to `base`."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def post(self, path: str, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            response = await session.post(self.base + path, **kwargs)
            await response.read()
            return response


def _caller(server: Server) -> Caller:
    return Caller(_OwnConnection(server.url))  # type: ignore[arg-type]


async def _order_call(caller: Caller, base: str) -> None:
    """dial → 2 (another order than the greeting offers) → 4512# → 9 → status callback,
    checking what the caller hears."""
    assert "another order, press 2" in (await caller.post(f"{base}/voice")).text
    assert "order number" in (await caller.press("2")).text
    assert "has shipped with UPS" in (await caller.press("4512")).text
    assert "Goodbye" in (await caller.press("9")).text
    response = await caller.raw_post(f"{base}/voice/status", caller.params({"CallStatus": "completed"}))
    assert response.status == 204


async def _record(env: dict[str, str], call_sid: str) -> Any:
    stores = build_stores(f"sqlite:///{env['IVR_DATA_DIR']}/ivr.db")
    await stores.open()
    try:
        return await stores.calls.get_call(call_sid)
    finally:
        await stores.close()


TAKEN = re.compile(r"call \S+ (turn \d+:|from \S+ started)")
"""What the line logs when a call starts and when a turn advances it (not replays of a turn)."""


def _turns_served(log: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """Per call: (what was logged, by which worker) for the start and each turn taken."""
    served: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for entry in log:
        if "call_sid" in entry and TAKEN.match(entry["message"]):
            served[entry["call_sid"]].append((entry["message"], entry["pid"]))
    return served


async def test_both_workers_serve_and_every_call_finishes_once(two_workers: Server) -> None:
    callers = [_caller(two_workers) for _ in range(CALLS)]
    await asyncio.gather(*(_order_call(c, two_workers.url) for c in callers))
    assert two_workers.stop() == 0

    for caller in callers:
        record = await _record(two_workers.env, caller.call_sid)
        assert (record.status, record.outcome, record.path) == ("completed", "resolved", ORDER_PATH)
    served = _turns_served(two_workers.log())
    workers = {pid for turns in served.values() for _, pid in turns}
    assert len(workers) == 2, workers
    # dial and three keys, each taken once, whichever worker it landed on
    assert all(len(served[caller.call_sid]) == 4 for caller in callers), served
    assert any(len({pid for _, pid in served[c.call_sid]}) == 2 for c in callers), "no call used both"


async def test_the_same_turn_sent_twice_advances_the_call_once(two_workers: Server) -> None:
    first, second = _caller(two_workers), _caller(two_workers)
    second.call_sid = first.call_sid
    dialled = await asyncio.gather(
        first.post(f"{two_workers.url}/voice"), second.post(f"{two_workers.url}/voice")
    )
    assert dialled[0].twiml == dialled[1].twiml
    for keys, heard in (("2", "order number"), ("4512", "has shipped with UPS"), ("9", "Goodbye")):
        # The very same signed request twice at once (Twilio retrying), over two connections.
        action = first._action()
        answers = await asyncio.gather(*(c.post(action, {"Digits": keys}) for c in (first, second)))
        assert answers[0].twiml == answers[1].twiml and heard in answers[0].text
    assert two_workers.stop() == 0

    record = await _record(two_workers.env, first.call_sid)
    assert record.path == ORDER_PATH
    assert [e.text for e in record.transcript if e.who == "caller"] == [
        "pressed 2",
        "pressed 4512",
        "pressed 9",
    ]
    assert len(_turns_served(two_workers.log())[first.call_sid]) == 4


def test_a_broken_flow_stops_start_up_once(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("flow: broken\nstart: nowhere\nstates: {}\n")
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_DATA_DIR": str(tmp_path), "IVR_FLOW": str(broken)}
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("cannot start") == 1, done.stderr
