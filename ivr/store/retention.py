"""How long each kind of record is kept, per market, and the purge that enforces it.

Data protection law keeps personal data only as long as it is needed, and what "needed"
means differs by kind and by country: a voicemail recording is needed until someone has
listened to it, a call's words for as long as complaints about it come in, the call record
itself (who called, when, what happened) for longer, a survey score while it still informs
the figures. So each market says a number of days per kind (`retention:` in its file) and
this purge, run daily by `ivr serve` and on demand by `ivr privacy purge`, applies them:

- `recordings`: a voicemail's audio file is deleted and its recording URL forgotten;
- `transcripts`: a call record's transcript, values, keys and words, and a voicemail's
  transcript, are emptied (the call record stays, with its path and outcome);
- `call_records`: the call record and its voicemail row are deleted;
- `survey_answers`: survey scores are deleted.

A record's market is the one of the number that was called (the call record says which); a
record whose call is gone is judged by the default market. Counts already rolled up for the
insights are not records of anyone and stay.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.store.sql import Sql, Statement

DAY = 86400.0
KINDS = ("recordings", "transcripts", "call_records", "survey_answers")


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind of record is kept (counted from the call's start, or the answer)."""

    recordings: int
    transcripts: int
    call_records: int
    survey_answers: int


Policy = Callable[[str], Retention]
"""The retention of records of a call to a number (the called number's market's)."""


@dataclass(frozen=True, slots=True)
class Purged:
    recordings: int = 0
    transcripts: int = 0
    call_records: int = 0
    survey_answers: int = 0


def _emptied(data: str) -> str | None:
    """A call record's session without its words (None if it holds none already)."""
    session = json.loads(data)
    personal = ("transcript", "vars", "inputs", "misheard")
    if not any(session.get(key) for key in personal) and not session.get("last_response"):
        return None
    for key in personal:
        session[key] = {} if key == "vars" else []
    session["last_response"] = ""
    return json.dumps(session)


def _called(data: object) -> str:
    """The number a call record says was called ('' without a record: the default market)."""
    return str(json.loads(str(data)).get("called", "")) if data else ""


async def purge(sql: Sql, policy: Policy, now: float, shortest: int) -> Purged:
    """Apply each market's retention to every ended call, voicemail and survey answer;
    `shortest` is the fewest days any market keeps any kind (younger records are not read)."""
    before = now - shortest * DAY
    calls = await sql.fetch(
        "SELECT call_sid, started_at, CAST(data AS text) AS data FROM calls"
        " WHERE ended_at IS NOT NULL AND started_at < $1",
        before,
    )
    statements: list[Statement] = []
    deleted = emptied = 0
    for row in calls:
        data = str(row["data"])
        keep = policy(_called(data))
        age = now - float(row["started_at"])
        if age > keep.call_records * DAY:
            statements.append(Statement("DELETE FROM calls WHERE call_sid = $1", (row["call_sid"],)))
            deleted += 1
        elif age > keep.transcripts * DAY and (without := _emptied(data)) is not None:
            statements.append(
                Statement("UPDATE calls SET data = $2 WHERE call_sid = $1", (row["call_sid"], without))
            )
            emptied += 1
    recordings: list[Path] = []
    voicemails = await sql.fetch(
        "SELECT v.id, v.created_at, v.audio_file, v.recording_url, v.transcript, CAST(c.data AS text) AS data"
        " FROM voicemails v LEFT JOIN calls c ON c.call_sid = v.call_sid WHERE v.created_at < $1",
        before,
    )
    for row in voicemails:
        keep = policy(_called(row["data"]))
        age = now - float(row["created_at"])
        if age > keep.call_records * DAY:
            statements.append(Statement("DELETE FROM voicemails WHERE id = $1", (row["id"],)))
            deleted += 1
        if age > keep.recordings * DAY and (row["audio_file"] or row["recording_url"]):
            if row["audio_file"]:
                recordings.append(Path(str(row["audio_file"])))
            statements.append(
                Statement(
                    "UPDATE voicemails SET audio_file = '', recording_url = '' WHERE id = $1", (row["id"],)
                )
            )
        if age > keep.transcripts * DAY and row["transcript"]:
            statements.append(Statement("UPDATE voicemails SET transcript = '' WHERE id = $1", (row["id"],)))
            emptied += 1
    answers = await sql.fetch(
        "SELECT s.call_sid, s.answered_at, CAST(c.data AS text) AS data FROM survey_answers s"
        " LEFT JOIN calls c ON c.call_sid = s.call_sid WHERE s.answered_at < $1",
        before,
    )
    scores = 0
    for row in answers:
        keep = policy(_called(row["data"]))
        if now - float(row["answered_at"]) > keep.survey_answers * DAY:
            statements.append(Statement("DELETE FROM survey_answers WHERE call_sid = $1", (row["call_sid"],)))
            scores += 1
    if statements:
        await sql.atomic(statements)
    files = await asyncio.to_thread(_delete, recordings)
    return Purged(recordings=files, transcripts=emptied, call_records=deleted, survey_answers=scores)


def _delete(paths: list[Path]) -> int:
    gone = 0
    for path in paths:
        if path.is_file():
            path.unlink()
            gone += 1
    return gone
