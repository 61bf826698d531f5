"""What only the Redis session store promises: keys expire, servers race safely, calls stay small.

Redis runs at 127.0.0.1:6379 on the development machines and in CI. Where it cannot be
reached these tests are skipped with the reason, except in CI (`CI=true`), where an
unreachable service is a failure. Each test works under its own random key prefix and
deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from ivr.answers import of_twiml
from ivr.session import CallSession, TranscriptEntry
from ivr.store.redis import RedisSessionStore, RedisUnavailable
from ivr.testing.demo_line import make_settings
from ivr.testing.nginx import free_port, wait_for_port
from ivr.testing.services import REDIS_URL, delete_redis_keys, require
from ivr.web.app import create_app
from tests.test_stores import a_session

pytestmark = pytest.mark.inprocess

MAX_BYTES_PER_CALL = 10 * 1024
"""The issue's budget for one active call in Redis."""


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    """A raw client to inspect keys, and a fresh prefix whose keys are deleted afterwards."""
    require("Redis", "127.0.0.1", 6379)
    prefix = f"test:{secrets.token_hex(6)}:"
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def open_store(redis: tuple[Redis, str]) -> AsyncIterator[Callable[..., Any]]:
    """Opens stores (each with its own client, as separate servers would) on the test's prefix."""
    _, prefix = redis
    stores: list[RedisSessionStore] = []

    async def make(**ttls: int) -> RedisSessionStore:
        store = RedisSessionStore(REDIS_URL, prefix=prefix, **ttls)
        await store.open()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def a_mid_call_session(call_sid: str = "CA1") -> CallSession:
    """A call five turns in: ten transcript entries and a ~1.5 KB answer to replay (kept as
    TwiML here, the largest an answer's record gets)."""
    prompt = (
        "Your order 4512 shipped with UPS on November 23rd and should arrive on December 4th. "
        "To hear this again, press 1. For a repair, press 2. To speak with an agent, press 0."
    )
    gather = (
        '<Gather input="dtmf speech" action="https://ivr.example.com/twilio/voice/turn?seq=5&amp;'
        'sig=3f9a1c0e" method="POST" timeout="6" numDigits="1" speechTimeout="auto" language="en-US" '
        'hints="order,repair,agent,warranty">'
        f"<Play>https://ivr.example.com/audio/prompts/{'a1b2c3d4' * 4}.wav</Play>"
        f'<Say voice="Polly.Joanna">{prompt}</Say></Gather>'
    )
    twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{gather * 3}</Response>'
    transcript = [
        TranscriptEntry(1.2, "bot", "Thanks for calling Acme support. This call may be recorded."),
        TranscriptEntry(4.8, "flow", "main_menu"),
        TranscriptEntry(9.1, "caller", "pressed 1"),
        TranscriptEntry(9.2, "flow", "order_number"),
        TranscriptEntry(10.0, "bot", "Please enter your order number, then press pound."),
        TranscriptEntry(17.6, "caller", "said four five one two"),
        TranscriptEntry(17.7, "flow", "lookup_order"),
        TranscriptEntry(18.4, "bot", prompt),
        TranscriptEntry(31.0, "caller", "pressed 2"),
        TranscriptEntry(31.1, "flow", "repair_ticket"),
    ]
    return a_session(
        call_sid,
        state="repair_ticket",
        seq=5,
        vars={"order_number": "4512", "customer_name": "Jane Doe", "carrier": "UPS", "eta": "2026-12-04"},
        attempts={"order_number": 1},
        visits={"welcome": 1, "main_menu": 2, "order_number": 1, "lookup_order": 1, "repair_ticket": 1},
        path=["welcome", "main_menu", "order_number", "lookup_order", "main_menu", "repair_ticket"],
        transcript=transcript,
        answer=of_twiml(twiml),
    )


async def test_a_live_call_expires_after_live_ttl_and_an_ended_one_after_ended_ttl(
    redis: tuple[Redis, str], open_store: Callable[..., Any]
) -> None:
    client, prefix = redis
    store = await open_store(live_ttl=3600, ended_ttl=60)
    key = f"{prefix}call:CA1"
    assert await store.create(a_session())
    assert 0 < await client.ttl(key) <= 3600
    assert await store.save(a_session(seq=1, state="order_number"), 0)
    assert 60 < await client.ttl(key) <= 3600
    assert await store.save(a_session(seq=2, status="completed", ended_at=1_700_000_100.0), 1)
    assert 0 < await client.ttl(key) <= 60


async def test_a_call_created_already_ended_gets_the_short_ttl(
    redis: tuple[Redis, str], open_store: Callable[..., Any]
) -> None:
    client, prefix = redis
    store = await open_store(live_ttl=3600, ended_ttl=60)
    assert await store.create(a_session(status="no-answer"))
    assert 0 < await client.ttl(f"{prefix}call:CA1") <= 60


async def test_an_ended_call_disappears_when_its_ttl_passes(
    redis: tuple[Redis, str], open_store: Callable[..., Any]
) -> None:
    client, prefix = redis
    store = await open_store(ended_ttl=1)
    assert await store.create(a_session())
    assert await store.save(a_session(seq=1, status="canceled"), 0)
    for _ in range(40):
        if not await client.exists(f"{prefix}call:CA1"):
            break
        await asyncio.sleep(0.1)
    assert await store.load("CA1") is None
    assert await client.exists(f"{prefix}call:CA1") == 0


async def test_two_servers_racing_the_same_turn_advance_the_call_once(open_store: Callable[..., Any]) -> None:
    first, second = await open_store(), await open_store()
    assert await first.create(a_session())
    assert not await second.create(a_session(state="welcome"))
    for _ in range(20):
        current = await first.load("CA1")
        assert current is not None
        turn = current.seq
        results = await asyncio.gather(
            first.save(a_session(seq=turn + 1, state=f"first{turn}"), turn),
            second.save(a_session(seq=turn + 1, state=f"second{turn}"), turn),
        )
        assert sorted(results) == [False, True]
        winner = "first" if results[0] else "second"
        for store in (first, second):
            loaded = await store.load("CA1")
            assert loaded is not None and loaded.seq == turn + 1 and loaded.state == f"{winner}{turn}"


async def test_a_turn_for_a_call_that_expired_or_never_existed_is_refused(
    open_store: Callable[..., Any],
) -> None:
    store = await open_store()
    assert not await store.save(a_session("CAgone", seq=1), 0)
    assert await store.load("CAgone") is None


async def test_a_mid_call_session_fits_in_ten_kilobytes(
    redis: tuple[Redis, str], open_store: Callable[..., Any]
) -> None:
    client, prefix = redis
    store = await open_store()
    session = a_mid_call_session()
    assert 1400 <= len(session.answer) <= 1800 and len(session.transcript) == 10
    assert await store.create(session)
    assert await store.load("CA1") == session
    used = await client.memory_usage(f"{prefix}call:CA1")
    lines = await client.memory_usage(f"{prefix}lines:CA1")
    assert used is not None and lines is not None and used + lines <= MAX_BYTES_PER_CALL


async def test_using_a_store_before_open_says_so() -> None:
    store = RedisSessionStore(REDIS_URL)
    with pytest.raises(RuntimeError, match="not open"):
        await store.load("CA1")
    with pytest.raises(RuntimeError, match="not open"):
        await store.save(a_session(), 0)


async def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisSessionStore(f"redis://user:secret@127.0.0.1:{port}/0")
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{port}/0 is not reachable") as caught:
        await store.open()
    assert "secret" not in str(caught.value)


async def test_more_concurrent_requests_than_connections_wait_instead_of_failing() -> None:
    """Under load an instance has hundreds of webhooks in flight; none may fail for want of a connection."""
    require("Redis", "127.0.0.1", 6379)
    prefix = f"test:{secrets.token_hex(6)}:"
    store = RedisSessionStore(REDIS_URL, prefix=prefix)
    await store.open()
    try:
        await store.create(CallSession("CApool", "+15550100001", "+15550009999", "support", "main_menu", 0.0))
        results = await asyncio.gather(*(store.load("CApool") for _ in range(600)))
        assert all(result is not None for result in results)
    finally:
        await store.close()
        await delete_redis_keys(prefix)


@pytest.fixture
def own_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A Redis of its own (a real `redis-server`) with the persistence asked for; its URL."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), *request.param]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port), "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("own_redis", "warned"),
    [(["--appendonly", "no", "--save", ""], True), (["--appendonly", "yes", "--save", ""], False)],
    indirect=["own_redis"],
)
async def test_start_up_warns_when_redis_would_lose_the_outbox(
    aiohttp_client: Callable, tmp_path: Path, caplog: pytest.LogCaptureFixture, own_redis: str, warned: bool
) -> None:
    settings = make_settings(tmp_path, IVR_SESSION_URL=own_redis)
    with caplog.at_level(logging.WARNING, logger="ivr.store.backends"):
        client = await aiohttp_client(create_app(settings))
        assert (await client.get("/readyz")).status == 200
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("redis_not_persistent")]
    assert bool(said) is warned, said
    if warned:
        assert "appendonly yes" in said[0] and "docs/operations.md" in said[0]
