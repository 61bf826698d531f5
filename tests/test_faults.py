"""Faults with real services: the session store goes away mid-call and comes back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.caller import Caller
from tests.conftest import TODAY, load_demo_data, make_settings

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A Redis server of this test's own, so stopping it disturbs nothing else."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_losing_redis_mid_call_apologises_hands_off_and_recovers(
    aiohttp_client: Callable, tmp_path: Path, redis: PrivateRedis
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_SESSION_URL=f"redis://127.0.0.1:{redis.port}/0")
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial()
    await caller.press("1")

    redis.stop()
    turn = await caller.press("4512")
    assert turn.heard == ["I'm sorry, something went wrong on our side. Let me connect you with an agent."]
    assert turn.handoff is not None  # a hand-off that needs neither Redis nor the database
    assert (await client.get("/healthz")).status == 200  # the instance stays up

    redis.start()
    fresh = Caller(client)
    await fresh.dial()
    await fresh.press("1")
    found = await fresh.press("4512")
    assert "has shipped with UPS" in found.text
