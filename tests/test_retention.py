"""Retention per market: each kind of record goes when its market says, on both databases.

Germany keeps recordings 30 days, words 90 and call records a year; the United States 90,
180 and two years (markets/*.yaml). A German call 100 days old has lost its words and its
recording but is still counted; an American call 60 days old still has both; a German call
400 days old is gone, with its voicemail and its survey score.
"""

from __future__ import annotations

import time
from pathlib import Path

from ivr.agents.model import TranscriptStatus
from ivr.agents.store.voicemails import SqlVoicemailStore
from ivr.markets import load_markets
from ivr.session import CallSession, CallStatus, TranscriptEntry
from ivr.store.backends import build_stores
from ivr.store.retention import purge
from ivr.store.surveys import SqlSurveyRecorder
from ivr.testing.demo_line import ROOT

DAY = 86400.0
MARKETS = load_markets(ROOT / "markets", ("en", "de", "sv"))
GERMAN, AMERICAN = "+4930555010", "+15550009999"


def ended_call(sid: str, called: str, started: float) -> CallSession:
    session = CallSession(sid, "+4915112345678", called, "support", "goodbye", started, flow_version=1)
    session.transcript = [TranscriptEntry(1.0, "bot", "Ihre Bestellung 4 6 2 0 ist mit DHL unterwegs.")]
    session.vars = {"customer_name": "Anna Schmidt"}
    session.path = ["welcome", "goodbye"]
    session.outcome = "resolved"
    session.status = CallStatus.COMPLETED
    session.ended_at = started + 60
    return session


async def test_each_market_keeps_each_kind_of_record_as_long_as_it_says(
    database_url: str, tmp_path: Path
) -> None:
    stores = build_stores(database_url)
    await stores.open()
    try:
        now = time.time()
        for sid, called, days in (
            ("CA-de-100", GERMAN, 100),
            ("CA-us-60", AMERICAN, 60),
            ("CA-de-400", GERMAN, 400),
        ):
            then = now - days * DAY
            await stores.calls.archive(ended_call(sid, called, then))
            await SqlSurveyRecorder(stores.sql, clock=lambda at=then: at).record(sid, 4)  # type: ignore[misc]
            voicemails = SqlVoicemailStore(stores.sql, clock=lambda at=then: at)  # type: ignore[misc]
            vm_id = await voicemails.start(sid, "+4915112345678", "closed", {})
            audio = tmp_path / f"{sid}.wav"
            audio.write_bytes(b"RIFF")
            await voicemails.processed(
                vm_id, audio_file=str(audio), transcript="Bitte rufen Sie mich zurück",
                status=TranscriptStatus.DONE, problem="",
            )  # fmt: skip

        done = await purge(stores.sql, MARKETS.retention, now, MARKETS.shortest_retention)

        german = await stores.calls.get_call("CA-de-100")
        assert german is not None and german.transcript == [] and german.vars == {}
        assert german.path == ["welcome", "goodbye"] and german.outcome == "resolved"  # still counted
        american = await stores.calls.get_call("CA-us-60")
        assert (
            american is not None and american.transcript and american.vars
        )  # 60 days: well inside the US's 180 and 90
        assert await stores.calls.get_call("CA-de-400") is None
        assert not (tmp_path / "CA-de-100.wav").exists() and (tmp_path / "CA-us-60.wav").exists()
        rows = await stores.sql.fetch(
            "SELECT call_sid, transcript, audio_file FROM voicemails ORDER BY call_sid"
        )
        assert [(r["call_sid"], r["transcript"] != "", r["audio_file"] != "") for r in rows] == [
            ("CA-de-100", False, False),
            ("CA-us-60", True, True),
        ]
        scores = await stores.sql.fetch("SELECT call_sid FROM survey_answers ORDER BY call_sid")
        assert [r["call_sid"] for r in scores] == ["CA-de-100", "CA-us-60"]
        assert (done.call_records, done.recordings) == (2, 2)  # the old call and its voicemail; two files
        again = await purge(stores.sql, MARKETS.retention, now, MARKETS.shortest_retention)
        assert again.transcripts == again.call_records == again.recordings == 0  # nothing left to do
    finally:
        await stores.close()
