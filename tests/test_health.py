"""Operations: liveness (`/healthz`), readiness (`/readyz`) and the JSON log format."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.logs import CALL_SID, call_context, make_handler
from ivr.testing.caller import VERIFIED_PHONE, Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.testing.services import REDIS_URL, require
from ivr.web.app import create_app


def free_port() -> int:
    """A port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_ready_with_sqlite(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"ready": True, "down": []}


async def test_a_dead_redis_is_alive_but_not_ready(aiohttp_client: Callable, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, IVR_SESSION_URL=f"redis://127.0.0.1:{free_port()}/0")
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["ready"] is False
    assert body["down"] == ["redis"]  # which service, not the driver's message
    # A call meanwhile is an apology and a hand-off, never an error page.
    turn = await Caller(client).dial_to_menu()
    assert turn.handoff is not None
    metrics = await (await client.get("/metrics")).text()
    assert 'ivr_errors_total{code="redis_unavailable"} 1.0' in metrics


async def test_ready_with_a_live_redis(aiohttp_client: Callable, tmp_path: Path) -> None:
    require("Redis", "127.0.0.1", 6379)
    settings = make_settings(tmp_path, IVR_SESSION_URL=REDIS_URL)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()


@pytest.fixture
def json_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as `ivr serve --log-format json` writes it."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    caplog.set_level(logging.INFO)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


async def test_json_logs_carry_the_call_and_never_a_phone_number(
    caller: Caller, json_log: io.StringIO
) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    await caller.press("4512")
    await caller.hang_up()
    forged = await caller.raw_post("/voice", caller.params(), signature="forged")
    assert forged.status == 403
    text = json_log.getvalue()
    assert VERIFIED_PHONE not in text
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    ours = [e for e in entries if e["logger"] == "ivr.line"]
    assert ours and all(e["call_sid"] == caller.call_sid for e in ours)
    started = next(e for e in ours if "started" in e["message"])
    assert "+1********01" in started["message"]
    refused = next(e for e in entries if e.get("code") == "signature_invalid")
    assert refused["level"] == "WARNING"
    assert CALL_SID.get() is None


def test_json_lines_have_codes_masked_tracebacks_and_no_stale_call() -> None:
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logger = logging.getLogger("ivr.test_health")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with call_context("CA123"):
            try:
                raise ValueError(f"no order for {VERIFIED_PHONE}")
            except ValueError:
                logger.exception("webhook_failed: turn 2 for call %s", "CA123")
        logger.warning("after the call")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    failed, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert failed["code"] == "webhook_failed"
    assert failed["call_sid"] == "CA123"
    assert failed["level"] == "ERROR"
    assert "ValueError" in failed["exception"] and VERIFIED_PHONE not in failed["exception"]
    assert "call_sid" not in after and "code" not in after
