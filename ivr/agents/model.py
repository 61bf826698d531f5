"""The agent desk's plain data: states as `StrEnum`s, records as frozen dataclasses, errors with codes.

No I/O here: the stores (`ivr.agents.store`) read and write these, the desk service
(`ivr.agents.desk`) and its offers (`ivr.agents.offers`) move them from state to state, and
the consoles and TwiML show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class AgentStatus(StrEnum):
    AVAILABLE = "available"
    """Ready for callers; routing offers them to the longest idle first."""
    BUSY = "busy"
    """Signed in but not taking callers (paperwork, a break)."""
    OFFLINE = "offline"
    """Not working; also where an agent lands after not answering an offer."""
    RINGING = "ringing"
    """The service is ringing their phone with an offer (set by the desk, not by agents)."""
    ON_CALL = "on_call"
    """Bridged with a caller or a callback (set by the desk, not by agents)."""


SETTABLE = frozenset({AgentStatus.AVAILABLE, AgentStatus.BUSY, AgentStatus.OFFLINE})


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    """An agent's phone is ringing with this caller's whisper."""
    BRIDGED = "bridged"
    DONE = "done"
    """The bridged call ended."""
    ABANDONED = "abandoned"
    """The caller hung up before an agent took them."""
    CALLBACK = "callback"
    """The caller chose to be called back (see `Callback`)."""
    VOICEMAIL = "voicemail"
    """The caller chose to leave a message instead of waiting."""


class CallbackState(StrEnum):
    PENDING = "pending"
    """Waiting for an agent to take it."""
    OFFERED = "offered"
    """An agent's phone is ringing with its whisper."""
    CALLING = "calling"
    """The agent accepted; the customer's phone is ringing."""
    CONNECTED = "connected"
    RETRY = "retry"
    """The customer could not be reached; tried again from `next_attempt_at`."""
    DONE = "done"
    FAILED = "failed"
    """Every attempt failed; still listed so a person decides what to do."""


OPEN_CALLBACK = (
    CallbackState.PENDING,
    CallbackState.OFFERED,
    CallbackState.CALLING,
    CallbackState.CONNECTED,
    CallbackState.RETRY,
    CallbackState.FAILED,
)


class TranscriptStatus(StrEnum):
    PENDING = "pending"
    """The recording is not fetched yet."""
    WORKING = "working"
    DONE = "done"
    NO_MODEL = "no_model"
    """No speech model is configured: listen to the audio."""
    FAILED = "failed"
    """Fetching or transcribing failed; `problem` says why."""


class OfferKind(StrEnum):
    ENTRY = "entry"
    CALLBACK = "callback"


class OfferState(StrEnum):
    RINGING = "ringing"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    MISSED = "missed"
    """Not answered, busy, failed, or no key pressed in time."""
    ENDED = "ended"
    """Accepted, and the agent's call has ended since."""


class DeskErrorCode(StrEnum):
    NOT_FOUND = "desk_not_found"
    NOT_AN_AGENT = "desk_not_an_agent"
    NO_PHONE = "desk_no_phone"
    BAD_STATUS = "desk_bad_status"
    AGENT_NOT_FREE = "desk_agent_not_free"
    NOTHING_TO_TAKE = "desk_nothing_to_take"
    ALREADY_TAKEN = "desk_already_taken"
    NO_TELEPHONY = "desk_no_telephony"
    TELEPHONY_FAILED = "desk_telephony_failed"


class DeskError(Exception):
    """A desk request that cannot be done; `code` is stable, the message says why in words."""

    def __init__(self, code: DeskErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """The desk's settings (from `ivr.config.Settings`); the defaults suit the tests."""

    callback_offer_after: float = 300.0
    """Seconds of estimated wait past which callers are offered a callback."""
    max_queue_wait: float = 900.0
    """Seconds without an available agent after which a waiting caller is offered a way out."""
    callback_attempts: int = 3
    callback_backoff: float = 300.0
    """Seconds before the first retry of a failed callback; doubles each time."""
    ring_seconds: int = 20
    """How long an agent's phone rings with an offer before it counts as not answered."""
    callback_ring_seconds: int = 30
    """How long a customer's phone rings for their callback before the attempt counts as failed."""
    pace_seconds: float = 180.0
    """Assumed wait per caller ahead before there is any history to estimate from."""
    language: str = ""
    """The line's language: the skill a caller needs from an agent (see `routing`)."""


@dataclass(frozen=True, slots=True)
class AgentState:
    username: str
    display_name: str
    status: AgentStatus
    idle_since: float
    """When the agent last became free (routing prefers the longest idle)."""
    on_call_with: str
    """The CallSid of the caller (or callback) they are ringing for or talking to; empty if none."""
    skills: tuple[str, ...] = ()
    missed_at: float = 0.0
    """When the desk set them busy for an offer they did not answer; 0 if it has not since."""


@dataclass(frozen=True, slots=True)
class Presence:
    """What the desk stores about an agent beyond their account (see `AgentState`)."""

    username: str
    status: AgentStatus
    idle_since: float
    on_call_with: str
    offer_id: str
    """The offer ringing their phone or being talked on; empty if none."""
    missed_at: float = 0.0
    """When the desk last set them busy for an offer they did not answer (0: not since they
    last chose a status themselves)."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    id: str
    call_sid: str
    caller: str
    """The caller's number (personal data: mask it in logs)."""
    reason: str
    context: Mapping[str, str]
    """Exactly what the flow collected (`Transfer.context`)."""
    skill: str
    enqueued_at: float
    waiting_seconds: float
    position: int | None
    """1 for the next caller; None once the entry no longer waits."""
    state: EntryState
    offered_to: str
    """The agent whose phone is ringing with this caller (or who took it)."""
    priority: int = 0
    declined_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Callback:
    id: str
    call_sid: str
    """The call in which the customer asked to be called back."""
    number: str
    reason: str
    context: Mapping[str, str]
    skill: str
    requested_at: float
    state: CallbackState
    attempts: int
    next_attempt_at: float
    agent: str
    last_error: str
    done_by: str = ""


@dataclass(frozen=True, slots=True)
class Voicemail:
    id: str
    call_sid: str
    caller: str
    reason: str
    context: Mapping[str, str]
    created_at: float
    recording_url: str
    """Twilio's recording; the audio is also kept locally (`audio_file`) once fetched."""
    duration: int
    audio_file: str
    """File name under the voicemail directory; empty until fetched."""
    transcript: str
    transcript_status: TranscriptStatus
    problem: str
    """Why there is no audio or no transcript, in words; empty when all went well."""
    done: bool
    done_by: str


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    kind: OfferKind
    subject: str
    """The queue entry's or the callback's id."""
    agent: str
    agent_call_sid: str
    state: OfferState


@dataclass(frozen=True, slots=True)
class WaitInfo:
    """What a waiting caller is told on each loop of the wait music."""

    position: int
    estimate_seconds: int
    offer_callback: bool
    """The estimate is over IVR_CALLBACK_OFFER_AFTER: offer "press 1 to be called back"."""
    offer_way_out: bool
    """Nobody has been available for longer than IVR_MAX_QUEUE_WAIT: offer callback or voicemail."""


class AcceptedNote(StrEnum):
    """What an agent who pressed 1 is told (in their language: `ivr.agents.whisper`)."""

    NONE = ""
    """Nothing: they are joined with the caller."""
    CANNOT_CONNECT = "cannot_connect"
    CALLER_GONE = "caller_gone"
    CALLBACK_NOT_NEEDED = "callback_not_needed"
    CALLBACK_FAILED = "callback_failed"
    CALLING_CUSTOMER = "calling_customer"


@dataclass(frozen=True, slots=True)
class Accepted:
    """An agent pressed 1: what their leg joins, and what to tell them if it fell through."""

    conference: str
    """Empty when the caller is gone or the callback could not be placed: `note` says so."""
    note: AcceptedNote = AcceptedNote.NONE


@dataclass(frozen=True, slots=True)
class DeskSnapshot:
    at: float
    agents: list[AgentState]
    queue: list[QueueEntry]
    callbacks: list[Callback]
    voicemails: list[Voicemail]
    emergency_closed: bool


def conference_name(kind: OfferKind, subject: str) -> str:
    """One conference per entry or callback: both legs join it by this name."""
    return f"{kind.value}-{subject}"
