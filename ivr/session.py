"""The live state of one call, as kept in the session store between webhooks.

Twilio talks to the service in separate HTTP requests, possibly to different
processes, so nothing about a call may live in process memory. Everything the
flow needs next time is here, and it round-trips through plain JSON (encoded with orjson:
a session is encoded and decoded on every turn, and the standard library's `json` was a
tenth of a turn's time under load).

During a rolling deploy, instances of two releases share the same live calls, so a session
may be written by a newer release than the one that reads it next. The rules that keep
that safe:
- a release may add fields (with defaults), never rename, remove or change the meaning of
  one (a new meaning is a new field), and raises `SCHEMA_VERSION` when it adds any;
- a reader keeps what it does not know (`extra`) and writes it back unchanged, so an older
  instance taking one turn of a call never erases what a newer one recorded;
- a reader of an older session fills the missing fields with their defaults.

What a turn writes is small: the stores keep a call's state (`state_json`, a few hundred
bytes) apart from its transcript and its last answer, which each turn appends as a row of
its own (`new_lines`, `answer`), so a turn neither reads nor rewrites what the call said so
far. A whole record (`to_json`) is what an ended call is filed as, and what the consoles read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

import orjson


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


SCHEMA_VERSION = 5
"""The session layout this release writes (`schema` in the JSON). 0: sessions saved before
the layout carried a version (no `schema` key; the same fields as version 1). 2 added
`language`. 3 adds what the insights count, written as it happens: `path_at`, `inputs`,
`misheard`, `transfer_reason`. 4 adds the side question a call is at (`dialog`,
`dialog_tries`, `dialog_said`, `offered`), which earlier releases kept as keys of `attempts`.
5 keeps the transcript and the last answer apart from the state (`noted_at` in the
state; `last_response` no longer written)."""

_OLD_DIALOG_KEYS = {"language#choice": "language", "survey#asked": "survey"}
"""Where releases before schema 4 kept a side question (a key of `attempts`): read once, moved."""


class InputKind(StrEnum):
    """How a caller answered a waiting state, as `inputs` records it (for supervisors' insights)."""

    KEY = "key"
    SPEECH = "speech"
    SILENCE = "silence"


class InputResult(StrEnum):
    OK = "ok"
    NO_MATCH = "no_match"
    NO_INPUT = "no_input"


@dataclass(slots=True)
class TranscriptEntry:
    at: float
    """Seconds since the call started."""
    who: str
    """'bot' (what the caller heard), 'caller' (pressed or said), 'flow' (state, action)."""
    text: str
    extra: dict[str, Any] | None = None
    """Keys written by a newer release, kept and written back as they were."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": self.at, "who": self.who, "text": self.text}
        return {**self.extra, **data} if self.extra else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscriptEntry:
        if len(data) == len(_ENTRY_FIELDS):  # nearly always: nothing from a newer release
            return cls(data["at"], data["who"], data["text"])
        known = {name: data.pop(name) for name in _ENTRY_FIELDS if name in data}
        return cls(**known, extra=data or None)


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
    """The TwiML answered for turn `seq - 1`, as releases before schema 5 stored it (now
    `answer`); still replayed to a repeated webhook of a call those releases answered last."""
    flow_version: int = 0
    """The published flow version this call started on; it finishes on it, whatever is
    published meanwhile. 0 in sessions saved before flows had versions (they take the current)."""
    path_at: list[float] = field(default_factory=list)
    """Seconds since the call started at which each `path` entry was entered (same length
    as `path`; shorter in sessions saved before it was recorded: their times are unknown)."""
    inputs: list[list[str]] = field(default_factory=list)
    """Each answer to a waiting state as [state, `InputKind`, `InputResult`], in order."""
    misheard: list[list[str]] = field(default_factory=list)
    """[menu state, words] for each spoken menu answer that matched nothing: what supervisors
    teach the menu next. Menus only: a number state's words may be personal."""
    transfer_reason: str = ""
    """The flow's reason for the last hand-off to a person ('caller_asked', ...), set when it happens."""
    language: str = ""
    """The language this call speaks (`en`, `de`); empty: the line's default (while the caller
    is still choosing one, and in sessions saved before the line served several languages)."""
    dialog: str = ""
    """The side question the caller is answering, outside the flow's own states: '' (none),
    'language' (the language choice), 'language:<code>' (offered that language), 'survey'."""
    dialog_tries: int = 0
    """Answers to the side question that did not answer it."""
    dialog_said: str = ""
    """What the caller said that led to the side question (a request in another language,
    taken again once that language is chosen); menu words only, never a number question's."""
    offered: list[str] = field(default_factory=list)
    """Languages this call was offered after the caller spoke them (each offered once)."""
    noted_at: float = field(default=0.0, compare=False)
    """Seconds since the call started of its latest transcript line: the state row says when
    the call last did something without carrying the transcript (see `last_written`)."""
    schema: int = SCHEMA_VERSION
    """The newest layout that wrote this session (see the module's rules)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys written by a newer release, kept and written back as they were."""
    answer: str = field(default="", compare=False)
    """What the line answered for turn `seq - 1`, as `ivr.answers` encodes it (a few hundred
    bytes, not TwiML): kept with that turn's row, rebuilt into TwiML for a repeated webhook."""
    stored_lines: int = field(default=0, compare=False)
    """Transcript lines the store already holds: a save appends only the lines after them."""
    whole: bool = field(default=True, compare=False)
    """False when loaded for a turn (`SessionStore.load_state`): `transcript` holds only the
    lines this process added, the rest stay in the store."""

    def last_written(self) -> float:
        """When the call last did something, Unix time: its start plus the latest moment its
        path or transcript records (the stores that keep no write time go by this)."""
        latest = max(
            self.path_at[-1:] + [entry.at for entry in self.transcript[-1:]] + [self.noted_at], default=0.0
        )
        return self.started_at + latest

    def new_lines(self) -> list[TranscriptEntry]:
        """The transcript lines the store does not hold yet (what this turn added)."""
        return self.transcript[self.stored_lines :]

    def to_json(self) -> str:
        """The whole record: the state with its transcript (an ended call's filed record)."""
        data = self._fields(_SESSION_FIELDS)
        data["transcript"] = [entry.to_dict() for entry in self.transcript]
        return orjson.dumps(data).decode()

    def state_json(self, *, columns: bool = True) -> str:
        """The state a turn writes: everything but the transcript and the answer, which the
        stores keep in rows of their own, and fields left at their empty defaults (a reader
        fills those in): under a kilobyte where the record is several. `columns=False` leaves
        out what the SQL stores keep as columns of their own (`COLUMNS`)."""
        data = self._fields(_STATE_FIELDS if columns else _STATE_WITHOUT_COLUMNS)
        if self.transcript:
            data["noted_at"] = max(self.noted_at, self.transcript[-1].at)
        return orjson.dumps(data).decode()

    def _fields(self, names: tuple[str, ...]) -> dict[str, Any]:
        # Shallow, field-driven conversion: `dataclasses.asdict` deep-copies every value
        # and was an eighth of a webhook turn's time under load.
        data: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value or name not in _EMPTY_BY_DEFAULT:
                data[name] = value
        data["schema"] = max(self.schema, SCHEMA_VERSION)
        return {**self.extra, **data} if self.extra else data

    @classmethod
    def from_json(cls, text: str | bytes, columns: dict[str, Any] | None = None) -> CallSession:
        """A record or a state (whose transcript is then empty: the store adds its lines);
        `columns`: the fields a SQL store keeps beside the JSON, for a state written without them."""
        data: dict[str, Any] = orjson.loads(text)
        if columns:
            data.update(columns)
        known = {name: data.pop(name) for name in _SESSION_FIELDS if name in data}
        known["transcript"] = [TranscriptEntry.from_dict(entry) for entry in data.pop("transcript", [])]
        known["schema"] = int(data.pop("schema", 0))
        session = cls(**known, extra=data)
        if session.schema < 4:
            for key, dialog in _OLD_DIALOG_KEYS.items():
                if key in session.attempts:
                    session.dialog, session.dialog_tries = dialog, session.attempts.pop(key)
        return session


def assembled(
    stored: str | bytes, turns: Sequence[str | bytes], columns: dict[str, Any] | None = None
) -> CallSession:
    """A whole call from its stored state (or filed record) and its turn rows' lines, in order.

    Lines inside the stored JSON come from a filed record, or from a call a release before
    schema 5 was answering: such a call's next save moves them into a turn row of their own."""
    session = CallSession.from_json(stored, columns)
    for lines in turns:
        session.transcript += lines_from(lines)
    if session.status in FINAL_STATUSES or turns:
        session.stored_lines = len(session.transcript)
    return session


def lines_json(lines: list[TranscriptEntry]) -> str:
    """Transcript lines as one turn row keeps them (a JSON list)."""
    return orjson.dumps([entry.to_dict() for entry in lines]).decode()


def lines_from(text: str | bytes) -> list[TranscriptEntry]:
    return [TranscriptEntry.from_dict(entry) for entry in orjson.loads(text)]


_RUNTIME = ("schema", "extra", "answer", "stored_lines", "whole")
_SESSION_FIELDS = tuple(f.name for f in fields(CallSession) if f.name not in (*_RUNTIME, "transcript"))
_STATE_FIELDS = tuple(name for name in _SESSION_FIELDS if name != "last_response")
COLUMNS = ("call_sid", "seq", "caller", "status", "outcome", "started_at", "ended_at")
"""The fields the SQL stores keep as columns of `calls`, beside the state's JSON."""
_STATE_WITHOUT_COLUMNS = tuple(name for name in _STATE_FIELDS if name not in COLUMNS)
_EMPTY_BY_DEFAULT = frozenset(
    f.name
    for f in fields(CallSession)
    if f.name not in COLUMNS and (f.default in ("", 0, None) or f.default_factory in (dict, list))
)
"""Fields a write leaves out while they hold their empty default (`from_json` restores it)."""
_ENTRY_FIELDS = ("at", "who", "text")
