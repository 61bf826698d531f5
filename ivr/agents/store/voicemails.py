"""Voicemails: a message a caller left, stored in `voicemails`, and its transcription's progress.

A voicemail is `recording` from the moment the caller is invited to speak (who and why are
known then), `new` once Twilio reports the recording (a ticket agents see), and `done` when
an agent marks it so. Transcription is claimed by one worker at a time; a claim left
`working` longer than `stale_after` (a worker that died) can be claimed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from ivr.agents.model import TranscriptStatus, Voicemail
from ivr.agents.store.encoding import decode_context, encode_context, new_id
from ivr.events import EventType
from ivr.store.event_outbox import event
from ivr.store.sql import Conflict, Row, Sql, Statement

_COLUMNS = (
    "id, call_sid, caller, reason, context, created_at, recording_url, duration, audio_file,"
    " transcript, transcript_status, problem, state, done_by"
)
_CLAIMABLE = "(transcript_status = 'pending' OR (transcript_status = 'working' AND claimed_at < $1))"


class VoicemailStore(Protocol):
    async def start(self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]) -> str:
        """A caller is about to record: keep who and why; returns the voicemail's id."""
        ...

    async def recorded(self, vm_id: str, recording_url: str, recording_sid: str, duration: int) -> bool:
        """Twilio's recording arrived: the voicemail becomes a ticket (once)."""
        ...

    async def claim(self, stale_after: float) -> Voicemail | None:
        """The oldest recording to fetch and transcribe, now claimed by the caller of this method."""
        ...

    async def processed(
        self, vm_id: str, *, audio_file: str, transcript: str, status: TranscriptStatus, problem: str
    ) -> None: ...

    async def listed(self, *, include_done: bool) -> list[Voicemail]:
        """Tickets (recorded voicemails), oldest first; worked-through ones only with `include_done`."""
        ...

    async def get(self, vm_id: str) -> Voicemail | None: ...

    async def for_call(self, call_sid: str) -> Voicemail | None:
        """The voicemail left in this call (recorded or not yet)."""
        ...

    async def mark_done(self, vm_id: str, username: str) -> bool:
        """False for an unknown voicemail, or one still being recorded."""
        ...


class SqlVoicemailStore:
    """`VoicemailStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    async def start(self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]) -> str:
        vm_id = new_id()
        await self.sql.execute(
            f"INSERT INTO voicemails ({_COLUMNS}, recording_sid, claimed_at, done_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, '', 0, '', '', 'pending', '', 'recording', '', '', 0, NULL)",
            vm_id,
            call_sid,
            caller,
            reason,
            encode_context(context),
            self.clock(),
        )
        return vm_id

    async def recorded(self, vm_id: str, recording_url: str, recording_sid: str, duration: int) -> bool:
        """The recording is in: new on the desk, and told to the company (one transaction)."""
        voicemail = await self.get(vm_id)
        if voicemail is None:
            return False
        left = event(
            EventType.VOICEMAIL_LEFT,
            vm_id,
            {
                "voicemail_id": vm_id,
                "call_sid": voicemail.call_sid,
                "number": voicemail.caller,
                "reason": voicemail.reason,
                "recording_sid": recording_sid,
                "duration": duration,
            },
            self.clock(),
        )
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE voicemails SET state = 'new', recording_url = $2, recording_sid = $3,"
                        " duration = $4 WHERE id = $1 AND state = 'recording'",
                        (vm_id, recording_url, recording_sid, duration),
                        expect_rows=1,
                    ),
                    left,
                ]
            )
        except Conflict:  # recorded before (Twilio's retry)
            return False
        return True

    async def claim(self, stale_after: float) -> Voicemail | None:
        now = self.clock()
        rows = await self.sql.fetch(
            f"SELECT id FROM voicemails WHERE state = 'new' AND {_CLAIMABLE} ORDER BY created_at, id LIMIT 5",
            now - stale_after,
        )
        for row in rows:  # another worker may claim one between the read and the update: try the next
            changed = await self.sql.execute(
                "UPDATE voicemails SET transcript_status = 'working', claimed_at = $2"
                f" WHERE id = $3 AND {_CLAIMABLE}",
                now - stale_after,
                now,
                row["id"],
            )
            if changed == 1:
                return await self.get(row["id"])
        return None

    async def processed(
        self, vm_id: str, *, audio_file: str, transcript: str, status: TranscriptStatus, problem: str
    ) -> None:
        await self.sql.execute(
            "UPDATE voicemails SET audio_file = $2, transcript = $3, transcript_status = $4, problem = $5"
            " WHERE id = $1",
            vm_id,
            audio_file,
            transcript,
            status.value,
            problem,
        )

    async def listed(self, *, include_done: bool) -> list[Voicemail]:
        states = "('new', 'done')" if include_done else "('new')"
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM voicemails WHERE state IN {states} ORDER BY created_at, id"
        )
        return [_voicemail(r) for r in rows]

    async def get(self, vm_id: str) -> Voicemail | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM voicemails WHERE id = $1", vm_id)
        return _voicemail(row) if row else None

    async def for_call(self, call_sid: str) -> Voicemail | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM voicemails WHERE call_sid = $1", call_sid)
        return _voicemail(row) if row else None

    async def mark_done(self, vm_id: str, username: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE voicemails SET state = 'done', done_by = $2, done_at = $3"
            " WHERE id = $1 AND state <> 'recording'",
            vm_id,
            username,
            self.clock(),
        )
        return changed == 1


def _voicemail(row: Row) -> Voicemail:
    return Voicemail(
        id=row["id"],
        call_sid=row["call_sid"],
        caller=row["caller"],
        reason=row["reason"],
        context=decode_context(row["context"]),
        created_at=row["created_at"],
        recording_url=row["recording_url"],
        duration=row["duration"],
        audio_file=row["audio_file"],
        transcript=row["transcript"],
        transcript_status=TranscriptStatus(row["transcript_status"]),
        problem=row["problem"],
        done=row["state"] == "done",
        done_by=row["done_by"],
    )
