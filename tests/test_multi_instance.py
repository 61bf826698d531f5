"""Two `ivr serve` processes behind nginx, sharing PostgreSQL and Redis: any instance serves any webhook.

Real processes, a real proxy, real signed webhooks: calls played through nginx
(round-robin) finish their path once, whichever instance answers each turn; the same
turn delivered to both instances at once advances the call once; and a caller whose
instance is killed mid-call carries on with the other one (nginx retries a refused
connection on the next upstream).

PUBLIC_URL is nginx's URL, as it would be the public address in production: Twilio
signs the URL it posts to, so a request sent straight to an instance, bypassing the
proxy, still carries a valid signature.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.store.backends import build_stores
from ivr.testing.caller import TOKEN, Caller
from ivr.testing.demo_line import DEMO, ROOT
from ivr.testing.nginx import Nginx, free_port, nginx_binary, run_nginx, wait_for_port
from ivr.testing.services import PG_URL, require

pytestmark = pytest.mark.process

REDIS_DB_URL = os.environ.get("IVR_TEST_REDIS_CLUSTER_URL", "redis://127.0.0.1:6379/14")
"""A Redis database of its own: the server's key prefix is not configurable, so the
tests empty this database before and after."""
CALLS = 20
ORDER_KEYS = ["pressed 2", "pressed 4512", "pressed 9"]
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


def _ivr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, capture_output=True, text=True, timeout=60
    )


def _flush_redis() -> None:
    from redis import Redis

    client = Redis.from_url(REDIS_DB_URL)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass
class Cluster:
    """The instances (by port) and the proxy in front of them."""

    env: dict[str, str]
    directory: Path
    ports: list[int]
    nginx: Nginx | None = None
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    def start(self, port: int) -> None:
        log = (self.directory / f"serve-{port}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own copy
        self.processes[port] = process
        if not wait_for_port(port):
            pytest.fail(f"ivr serve on port {port} did not start: {self.server_log(port)}")

    def kill(self, port: int) -> None:
        """kill -9: no clean shutdown, as when a machine dies."""
        process = self.processes.pop(port)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(10)
        self.processes.clear()

    def server_log(self, port: int) -> str:
        return (self.directory / f"serve-{port}.log").read_text()


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL schema with the demo data and an empty Redis database."""
    if nginx_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed: CI must install it (scripts/setup)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    require("PostgreSQL", "127.0.0.1", 5432)
    require("Redis", "127.0.0.1", 6379)
    from ivr.store.postgres import PostgresDatabase, upgrade

    schema = f"t_{secrets.token_hex(6)}"
    data_dir = tmp_path_factory.mktemp("cluster")
    env = {
        **os.environ,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_DATA_DIR": str(data_dir),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
        "IVR_DATABASE_URL": f"{PG_URL}?schema={schema}",
        "IVR_SESSION_URL": REDIS_DB_URL,
    }
    # `ivr db upgrade` does not honour ?schema= yet (test_db_upgrade_creates_the_schema_in_the_url):
    # upgrade through the library so that the rest of the module runs.
    asyncio.run(upgrade(PG_URL, schema=schema))
    for kind in ("orders", "warranties", "repairs"):
        result = _ivr("import", kind, str(DEMO / f"{kind}.csv"), env=env)
        assert result.returncode == 0, result.stderr
    _flush_redis()
    try:
        yield env
    finally:
        _flush_redis()
        asyncio.run(PostgresDatabase(PG_URL, schema=schema).drop_schema())


def _cluster(env: dict[str, str], directory: Path) -> Iterator[Cluster]:
    ports = [free_port(), free_port()]
    with run_nginx(ports, directory / "nginx") as proxy:
        cluster = Cluster({**env, "PUBLIC_URL": proxy.url}, directory, ports, proxy)
        try:
            for port in ports:
                cluster.start(port)
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture(scope="module")
def cluster(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _cluster(shared_env, tmp_path_factory.mktemp("instances"))


@pytest.fixture
def doomed_cluster(shared_env: dict[str, str], tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own for the test that kills an instance."""
    yield from _cluster(shared_env, tmp_path)


class _Through:
    """What `Caller` needs of a test client, over a real HTTP connection to `base`.

    Each request carries a new `X-Request-Id`, listed in `sent`, so that nginx's log lines
    for exactly these requests can be found (`Nginx.lines_for`).
    """

    def __init__(self, session: aiohttp.ClientSession, base: str, sent: list[str] | None = None) -> None:
        self.session = session
        self.base = base
        self.sent = [] if sent is None else sent

    def post(self, path: str, **kwargs: Any) -> Any:
        request_id = secrets.token_hex(8)
        self.sent.append(request_id)
        headers = {**(kwargs.pop("headers", None) or {}), "X-Request-Id": request_id}
        return self.session.post(self.base + path, headers=headers, **kwargs)


def _caller(session: aiohttp.ClientSession, base: str, sent: list[str] | None = None) -> Caller:
    return Caller(_Through(session, base, sent))  # type: ignore[arg-type]


async def _hang_up(caller: Caller, public_url: str) -> None:
    response = await caller.raw_post(f"{public_url}/voice/status", caller.params({"CallStatus": "completed"}))
    async with response:
        assert response.status == 204, await response.text()


async def _order_call(caller: Caller, public_url: str) -> None:
    """dial → 1 → 4512# → 9 → status callback, checking what the caller hears."""
    assert "For another order, press 2." in (await caller.post(f"{public_url}/voice")).text
    assert "order number" in (await caller.press("2")).text
    assert "has shipped with UPS" in (await caller.press("4512")).text
    assert "Goodbye" in (await caller.press("9")).text
    await _hang_up(caller, public_url)


async def _records(env: dict[str, str], call_sids: list[str]) -> dict[str, Any]:
    stores = build_stores(env["IVR_DATABASE_URL"])
    await stores.open()
    try:
        return {sid: await stores.calls.get_call(sid) for sid in call_sids}
    finally:
        await stores.close()


def _assert_finished_once(record: Any) -> None:
    assert record is not None
    assert (record.status, record.outcome) == ("completed", "resolved")
    assert record.path == ORDER_PATH
    assert [e.text for e in record.transcript if e.who == "caller"] == ORDER_KEYS


async def test_calls_through_the_proxy_use_both_instances_and_finish_once(cluster: Cluster) -> None:
    sent: list[str] = []
    async with aiohttp.ClientSession() as session:
        callers = [_caller(session, cluster.url, sent) for _ in range(CALLS)]
        await asyncio.gather(*(_order_call(c, cluster.url) for c in callers))

    sids = [c.call_sid for c in callers]
    records = await _records(cluster.env, sids)
    for sid in sids:
        _assert_finished_once(records[sid])

    assert cluster.nginx is not None
    assert len(sent) == CALLS * 5  # dial, three keys, the status callback
    served = cluster.nginx.served_by(await cluster.nginx.lines_for(sent))
    for upstream in cluster.nginx.upstreams:
        assert served[upstream] >= CALLS, served  # round-robin: about half each

    # The operator's view of one of them, from the shared database.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "calls", "show", sids[0], "--json",
        env=cluster.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    shown = json.loads(out)
    assert (shown["status"], shown["outcome"], shown["path"]) == ("completed", "resolved", ORDER_PATH)


async def test_the_same_turn_delivered_to_both_instances_advances_the_call_once(cluster: Cluster) -> None:
    a, b = (f"http://{u}" for u in cluster.nginx.upstreams) if cluster.nginx else ("", "")
    async with aiohttp.ClientSession() as session:
        to_a, to_b = _caller(session, a), _caller(session, b)
        to_b.call_sid = to_a.call_sid
        dialled = await asyncio.gather(to_a.post(f"{cluster.url}/voice"), to_b.post(f"{cluster.url}/voice"))
        assert dialled[0].twiml == dialled[1].twiml
        for keys, heard in (("2", "order number"), ("4512", "has shipped with UPS"), ("9", "Goodbye")):
            # Both instances get the very same signed request (Twilio retrying, or a duplicate).
            action = to_a._action()
            first, second = await asyncio.gather(
                to_a.post(action, {"Digits": keys}), to_b.post(action, {"Digits": keys})
            )
            assert first.twiml == second.twiml and heard in first.text
        await asyncio.gather(_hang_up(to_a, cluster.url), _hang_up(to_b, cluster.url))

    record = (await _records(cluster.env, [to_a.call_sid]))[to_a.call_sid]
    _assert_finished_once(record)


async def test_a_killed_instance_mid_call_the_other_carries_on(doomed_cluster: Cluster) -> None:
    cluster = doomed_cluster
    assert cluster.nginx is not None
    sent: list[str] = []
    async with aiohttp.ClientSession() as session:
        caller = _caller(session, cluster.url, sent)
        assert "For another order, press 2." in (await caller.post(f"{cluster.url}/voice")).text
        assert "order number" in (await caller.press("2")).text
        # Kill the instance that round-robin sends the next request to: the one that did
        # not answer the last. nginx finds it refusing connections and tries the other.
        last = cluster.nginx.served_by(await cluster.nginx.lines_for(sent[-1:]))
        victim_addr = next(u for u in cluster.nginx.upstreams if u not in last)
        survivor_addr = next(u for u in cluster.nginx.upstreams if u != victim_addr)
        before = len(sent)
        cluster.kill(int(victim_addr.rsplit(":", 1)[1]))

        assert "has shipped with UPS" in (await caller.press("4512")).text
        assert "Goodbye" in (await caller.press("9")).text
        await _hang_up(caller, cluster.url)
        # A whole new call works too, on the one instance left.
        second = _caller(session, cluster.url, sent)
        await _order_call(second, cluster.url)

    after = await cluster.nginx.lines_for(sent[before:])
    assert all(line.split("|")[0] in ("200", "204") for line in after), after
    assert cluster.nginx.served_by(after) == {survivor_addr: len(after)}
    assert any(victim_addr in line for line in after), f"nginx never tried the killed instance: {after}"
    records = await _records(cluster.env, [caller.call_sid, second.call_sid])
    _assert_finished_once(records[caller.call_sid])
    _assert_finished_once(records[second.call_sid])


def test_db_upgrade_creates_the_schema_in_the_url(shared_env: dict[str, str]) -> None:
    """`ivr db upgrade` with IVR_DATABASE_URL=postgresql://…?schema=NAME migrates that schema."""
    from ivr.store.postgres import PostgresDatabase

    schema = f"t_{secrets.token_hex(6)}"
    env = {**shared_env, "IVR_DATABASE_URL": f"{PG_URL}?schema={schema}"}
    try:
        result = _ivr("db", "upgrade", env=env)
        assert result.returncode == 0, result.stderr[-600:]
        assert "Applied" in result.stdout
        assert _ivr("db", "upgrade", env=env).stdout.strip() == "Database is up to date."
    finally:
        asyncio.run(PostgresDatabase(PG_URL, schema=schema).drop_schema())
