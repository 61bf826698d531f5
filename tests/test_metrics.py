"""`GET /metrics`: what a few real calls against the real server leave in the counters."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ivr.config import Settings
from ivr.metrics import ErrorCounter, Metrics, TimedSynthesizer
from ivr.testing.caller import STRANGER_PHONE, Caller

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? \S+$')
"""One exposition line: `name{label="value",...} value`."""


async def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert SAMPLE.match(line), f"not an exposition line: {line!r}"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_calls_turns_handoffs_outcomes_and_errors_are_counted(client: TestClient) -> None:
    resolved = Caller(client, phone=STRANGER_PHONE)  # not on file: the call starts at the main menu
    await resolved.dial()
    await resolved.press("4")
    await resolved.press("5")
    await resolved.press("9")
    await resolved.hang_up()

    transferred = Caller(client, phone=STRANGER_PHONE)
    await transferred.dial()
    await transferred.press("0")
    await transferred.transfer_ends("bridged")
    await transferred.hang_up()

    abandoned = Caller(client)
    await abandoned.dial()
    await abandoned.hang_up()
    await abandoned.hang_up()  # a repeated final status is filed once

    forged = await Caller(client).raw_post("/voice", Caller(client).params(), signature="forged")
    assert forged.status == 403

    samples = await scrape(client)
    assert value(samples, "ivr_calls_started_total") == 3
    assert value(samples, "ivr_turns_total", kind="answer") == 3
    assert value(samples, "ivr_turns_total", kind="turn") == 5  # 4, 5, 9; 0 and the transfer's end
    assert value(samples, "ivr_turns_total", kind="status") == 4
    assert value(samples, "ivr_turn_seconds_count", kind="turn") == 5
    assert value(samples, "ivr_turn_seconds_bucket", kind="turn", le="+Inf") == 5
    assert value(samples, "ivr_turn_seconds_sum", kind="turn") > 0
    assert value(samples, "ivr_handoffs_total", reason="caller_asked") == 1
    assert value(samples, "ivr_calls_ended_total", outcome="resolved") == 1
    assert value(samples, "ivr_calls_ended_total", outcome="transferred") == 1
    assert value(samples, "ivr_calls_ended_total", outcome="abandoned") == 1
    assert value(samples, "ivr_errors_total", code="signature_invalid") == 1
    assert value(samples, "ivr_media_streams") == 0
    assert ("ivr_asr_seconds_count", frozenset()) in samples
    assert ("ivr_tts_seconds_count", frozenset()) in samples


async def test_a_failed_webhook_counts_its_error_code_and_the_hand_off(
    caller: Caller, settings: Settings
) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    with sqlite3.connect(Path(settings.database_url.removeprefix("sqlite:///"))) as conn:
        conn.execute("DROP TABLE orders")
    turn = await caller.press("4512")
    assert turn.handoff is not None
    samples = await scrape(caller.client)
    assert value(samples, "ivr_errors_total", code="webhook_failed") == 1
    assert value(samples, "ivr_handoffs_total", reason="system_error") == 1


async def test_a_replayed_turn_is_not_a_second_hand_off(client: TestClient) -> None:
    caller = Caller(client, phone=STRANGER_PHONE)
    turn = await caller.dial()
    gather = turn.gather
    assert gather is not None
    action = gather.get("action", "")
    await caller.post(action, {"Digits": "0"})
    await caller.post(action, {"Digits": "0"})  # Twilio's retry of the same turn
    samples = await scrape(caller.client)
    assert value(samples, "ivr_handoffs_total", reason="caller_asked") == 1
    assert value(samples, "ivr_turns_total", kind="turn") == 2


def test_only_coded_warnings_from_our_loggers_are_counted() -> None:
    metrics = Metrics()
    counter = ErrorCounter(metrics)
    counter.install()
    try:
        logging.getLogger("ivr.speech.tts").error("%s: could not render: %s", "tts_engine_failed", "boom")
        logging.getLogger("ivr.web.app").warning("stream_failed: call CA1")
        logging.getLogger("ivr.web.app").warning("a warning without a code")
        logging.getLogger("ivr.line").info("call_note: info is not an error")
        logging.getLogger("aiohttp.server").error("error: not ours")
    finally:
        counter.uninstall()
    logging.getLogger("ivr.web.app").warning("stream_failed: after uninstall")
    text = metrics.exposition().decode()
    assert 'ivr_errors_total{code="tts_engine_failed"} 1.0' in text
    assert 'ivr_errors_total{code="stream_failed"} 1.0' in text
    assert "call_note" not in text
    assert 'code="error"' not in text


class FakeSynthesizer:
    voice_key = "fake"

    async def synthesize(self, text: str) -> bytes:
        return text.encode()


async def test_synthesis_is_timed_and_keeps_the_voice_key() -> None:
    metrics = Metrics()
    timed = TimedSynthesizer(FakeSynthesizer(), metrics)
    assert timed.voice_key == "fake"
    assert await timed.synthesize("hello") == b"hello"
    assert "ivr_tts_seconds_count 1.0" in metrics.exposition().decode()
