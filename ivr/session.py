"""The live state of one call, as kept in the session store between webhooks.

Twilio talks to the service in separate HTTP requests, possibly to different
processes, so nothing about a call may live in process memory. Everything the
flow needs next time is here, and it round-trips through plain JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class CallStatus(StrEnum):
    """Twilio's `CallStatus` values (voice webhooks and status callbacks), in one place."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


FINAL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
)
"""The statuses that end a call. A set of `StrEnum` members, so a plain string from a
webhook or the store (`"completed" in FINAL_STATUSES`) is checked against it as it is."""


@dataclass(slots=True)
class TranscriptEntry:
    at: float
    """Seconds since the call started."""
    who: str
    """'bot' (what the caller heard), 'caller' (pressed or said), 'flow' (state, action)."""
    text: str


@dataclass(slots=True)
class CallSession:
    call_sid: str
    caller: str
    """The caller ID (E.164) as Twilio reports it; personal data, never logged unmasked."""
    called: str
    flow: str
    state: str
    started_at: float
    seq: int = 0
    """Turn counter. Each TwiML answer's action URLs carry it, so a retried or duplicated
    webhook for a turn already taken is recognised and answered with the same TwiML."""
    vars: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    """Failed tries in the current visit to a waiting state (reset on arrival)."""
    visits: dict[str, int] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    outcome: str = ""
    status: str = CallStatus.IN_PROGRESS
    ended_at: float | None = None
    last_response: str = ""
    """The TwiML answered for turn `seq - 1`, replayed to duplicate deliveries."""
    flow_version: int = 0
    """The published flow version this call started on; it finishes on it, whatever is
    published meanwhile. 0 in sessions saved before flows had versions (they take the current)."""

    def to_json(self) -> str:
        # Shallow, field-driven conversion: `dataclasses.asdict` deep-copies every value
        # and was an eighth of a webhook turn's time under load.
        data: dict[str, Any] = {name: getattr(self, name) for name in _SESSION_FIELDS}
        data["transcript"] = [{name: getattr(e, name) for name in _ENTRY_FIELDS} for e in self.transcript]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CallSession:
        data: dict[str, Any] = json.loads(text)
        data["transcript"] = [TranscriptEntry(**entry) for entry in data.get("transcript", [])]
        return cls(**data)


_SESSION_FIELDS = tuple(f.name for f in fields(CallSession))
_ENTRY_FIELDS = tuple(f.name for f in fields(TranscriptEntry))
