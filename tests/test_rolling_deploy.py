"""A rolling deploy: instances of two releases serve the same live calls.

While new instances start and old ones drain, one call's turns land on both releases in any
order. These tests write a call's session as a newer release would (a higher `schema`, a
field this release does not know, a key on a transcript entry) straight into the real
store, then take the call's next turn on this release's real server: the caller must hear
the right next prompt, and what the newer release recorded must still be there afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.session import SCHEMA_VERSION, CallSession, TranscriptEntry
from ivr.testing.caller import Caller


def _stored(settings: Settings, call_sid: str) -> dict:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        data, seq = db.execute("SELECT data, seq FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
    return {**json.loads(data), "seq": seq}  # the turn number is a column beside the state


def _store_raw(settings: Settings, call_sid: str, data: dict) -> None:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE calls SET data = ? WHERE call_sid = ?", (json.dumps(data), call_sid))


def _mark_last_line(settings: Settings, call_sid: str, **keys: object) -> dict:
    """Add keys to the call's latest transcript line, in its turn's row; returns the line."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        seq, text = db.execute(
            "SELECT seq, lines FROM call_turns WHERE call_sid = ? ORDER BY seq DESC LIMIT 1", (call_sid,)
        ).fetchone()
        lines = json.loads(text)
        lines[-1].update(keys)
        db.execute(
            "UPDATE call_turns SET lines = ? WHERE call_sid = ? AND seq = ?",
            (json.dumps(lines), call_sid, seq),
        )
    return lines[-1]


def _all_lines(settings: Settings, call_sid: str) -> list[dict]:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT lines FROM call_turns WHERE call_sid = ? ORDER BY seq", (call_sid,)
        ).fetchall()
    return [line for (text,) in rows for line in json.loads(text)]


async def test_a_turn_on_this_release_after_a_newer_one_keeps_the_call_and_its_data(
    client: TestClient, settings: Settings
) -> None:
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("1")  # a newer instance took this turn ...
    newer = _stored(settings, caller.call_sid)
    newer["schema"] = SCHEMA_VERSION + 1
    newer["caller_language"] = "de"
    _store_raw(settings, caller.call_sid, newer)
    marked = _mark_last_line(settings, caller.call_sid, confidence=0.87)

    turn = await caller.press("4512")  # ... and this one answers the next
    assert turn.heard[:2] == [
        "Thanks, Jane Doe.",
        "Order 4 5 1 2 has shipped with UPS and should arrive on December 4."
        " The tracking number ends in 6 7 8 4.",
    ]
    after = _stored(settings, caller.call_sid)
    assert after["seq"] == newer["seq"] + 1, "the turn was taken once"
    assert after["caller_language"] == "de"
    assert after["schema"] == SCHEMA_VERSION + 1
    kept = [entry for entry in _all_lines(settings, caller.call_sid) if "confidence" in entry]
    assert kept == [marked]


async def test_a_call_saved_before_sessions_had_a_schema_carries_on(
    client: TestClient, settings: Settings
) -> None:
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("1")
    older = _stored(settings, caller.call_sid)
    del older["schema"], older["flow_version"]  # as the release before versions wrote it
    _store_raw(settings, caller.call_sid, older)

    turn = await caller.press("4512")
    assert "has shipped with UPS" in turn.text
    after = _stored(settings, caller.call_sid)
    assert after["schema"] == SCHEMA_VERSION
    assert after["path"][-1] == "order_more"


def test_unknown_keys_survive_a_round_trip_and_known_ones_are_read() -> None:
    text = json.dumps(
        {
            "call_sid": "CA1",
            "caller": "+15550100001",
            "called": "+15550009999",
            "flow": "support",
            "state": "main_menu",
            "started_at": 1.0,
            "seq": 2,
            "transcript": [{"at": 0.5, "who": "bot", "text": "Hello", "voice": "de-1"}],
            "schema": SCHEMA_VERSION + 3,
            "survey": {"score": 5},
        }
    )
    session = CallSession.from_json(text)
    assert session.seq == 2 and session.state == "main_menu"
    assert session.transcript == [TranscriptEntry(0.5, "bot", "Hello", extra={"voice": "de-1"})]
    written = json.loads(session.to_json())
    original = json.loads(text)
    assert {key: written[key] for key in original} == original, "nothing the newer release wrote is lost"
