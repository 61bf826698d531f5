"""The agent desk: the queue, agents, offers, callbacks and voicemails, kept in the database.

Our database is the source of truth; Twilio's `<Enqueue>` only holds the caller and plays
what `/voice/queue/wait` says. Every change is one `atomic` batch whose guards (`expect_rows`)
make two instances behind a load balancer agree: an entry is offered to one agent at a
time, an agent rings for one offer at a time, and a late or duplicated webhook finds the
row already moved on and changes nothing.

`AgentDesk` is the one facade both sides use: the console (status, queue, take, callbacks,
voicemails, snapshot) and the webhooks (enqueue, offers, accept/decline, call endings). It
calls the phone network only through `Telephony`.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ivr.agents.routing import Idle, Waiting, order, pick, pick_for, topic_of
from ivr.logs import mask_phone
from ivr.session import TranscriptEntry
from ivr.store.accounts import AccountStore
from ivr.store.audit import AuditLog
from ivr.store.base import CallLog, SessionStore
from ivr.store.sql import Conflict, Row, Sql, Statement
from ivr.telephony import Telephony, TelephonyError

log = logging.getLogger(__name__)

ENDED_CALL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
EMERGENCY = "emergency_closed"


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


LIVE_ENTRY = (EntryState.WAITING, EntryState.OFFERED)


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
class AgentState:
    username: str
    display_name: str
    status: AgentStatus
    idle_since: float
    """When the agent last became free (routing prefers the longest idle)."""
    on_call_with: str
    """The CallSid of the caller (or callback) they are ringing for or talking to; empty if none."""
    skills: tuple[str, ...] = ()


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


@dataclass(frozen=True, slots=True)
class Accepted:
    """An agent pressed 1: what their leg joins, and what to tell them if it fell through."""

    conference: str
    """Empty when the caller is gone or the callback could not be placed: `message` says so."""
    message: str = ""


@dataclass(frozen=True, slots=True)
class DeskSnapshot:
    at: float
    agents: list[AgentState]
    queue: list[QueueEntry]
    callbacks: list[Callback]
    voicemails: list[Voicemail]
    emergency_closed: bool


@dataclass(frozen=True, slots=True)
class DeskConfig:
    callback_offer_after: float = 300.0
    """Seconds of estimated wait past which callers are offered a callback."""
    max_queue_wait: float = 900.0
    """Seconds without an available agent after which a waiting caller is offered a way out."""
    callback_attempts: int = 3
    callback_backoff: float = 300.0
    """Seconds before the first retry of a failed callback; doubles each time."""
    ring_seconds: int = 20
    """How long an agent's phone rings with an offer before it counts as not answered."""
    pace_seconds: float = 180.0
    """Assumed wait per caller ahead before there is any history to estimate from."""
    language: str = ""
    """The line's language: the skill a caller needs from an agent (see `routing`)."""


@dataclass(frozen=True, slots=True)
class Urls:
    """Where Twilio reaches the desk's webhooks (all under /voice: signature-checked)."""

    public_url: str

    def wait(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/wait?entry={entry_id}"

    def choice(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/choice?entry={entry_id}"

    def queue_done(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/done?entry={entry_id}"

    def join(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/join?entry={entry_id}"

    def whisper(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/whisper?offer={offer_id}"

    def answer(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/answer?offer={offer_id}"

    def agent_status(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/status?offer={offer_id}"

    def voicemail_done(self, vm_id: str) -> str:
        return f"{self.public_url}/voice/voicemail/done?vm={vm_id}"

    def recording(self, vm_id: str) -> str:
        return f"{self.public_url}/voice/voicemail/recording?vm={vm_id}"

    def callback_join(self, callback_id: str) -> str:
        return f"{self.public_url}/voice/callback/join?callback={callback_id}"

    def callback_status(self, callback_id: str) -> str:
        return f"{self.public_url}/voice/callback/status?callback={callback_id}"

    def after_join(self) -> str:
        return f"{self.public_url}/voice/queue/after"


def conference_name(kind: OfferKind, subject: str) -> str:
    """One conference per entry or callback: both legs join it by this name."""
    return f"{kind.value}-{subject}"


def _new_id() -> str:
    return secrets.token_hex(8)


def _context(raw: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(raw).items()}


_ENTRY_COLUMNS = (
    "id, call_sid, caller, reason, context, skill, enqueued_at, priority, state, offered_to, declined_by"
)
_CALLBACK_COLUMNS = (
    "id, call_sid, number, reason, context, skill, requested_at, state, attempts, next_attempt_at,"
    " agent, last_error, done_by"
)
_VOICEMAIL_COLUMNS = (
    "id, call_sid, caller, reason, context, created_at, recording_url, duration, audio_file,"
    " transcript, transcript_status, problem, state, done_by"
)


class AgentDesk:
    def __init__(
        self,
        sql: Sql,
        *,
        accounts: AccountStore,
        audit: AuditLog,
        telephony: Telephony | None,
        urls: Urls,
        config: DeskConfig = DeskConfig(),
        sessions: SessionStore | None = None,
        calls: CallLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sql = sql
        self.accounts = accounts
        self.audit = audit
        self.telephony = telephony
        self.urls = urls
        self.config = config
        self.sessions = sessions
        self.calls = calls
        self.clock = clock

    # --- agents ------------------------------------------------------------------------------

    async def agents(self) -> list[AgentState]:
        """Every agent account (enabled, with a phone), with their current status."""
        states = {r["username"]: r for r in await self.sql.fetch("SELECT * FROM agent_states")}
        out: list[AgentState] = []
        for account in await self.accounts.list():
            if account.disabled or not account.phone:
                continue
            row = states.get(account.username)
            out.append(
                AgentState(
                    username=account.username,
                    display_name=account.display_name,
                    status=AgentStatus(row["status"]) if row else AgentStatus.OFFLINE,
                    idle_since=row["idle_since"] if row else 0.0,
                    on_call_with=row["with_call"] if row else "",
                    skills=account.skills,
                )
            )
        return out

    async def set_status(self, username: str, status: AgentStatus) -> AgentState:
        """An agent sets themselves available, busy or offline (not while ringing or on a call:
        those end by themselves)."""
        if status not in SETTABLE:
            raise DeskError(DeskErrorCode.BAD_STATUS, f"'{status}' is set by the desk, not by agents")
        account = await self.accounts.get(username)
        if account is None or account.disabled:
            raise DeskError(DeskErrorCode.NOT_FOUND, f"there is no agent called '{username}'")
        if not account.phone:
            raise DeskError(DeskErrorCode.NO_PHONE, "your account has no phone number to ring")
        now = self.clock()
        current = await self.sql.fetchone("SELECT status FROM agent_states WHERE username = $1", username)
        if current and current["status"] in (AgentStatus.RINGING, AgentStatus.ON_CALL):
            raise DeskError(
                DeskErrorCode.AGENT_NOT_FREE, "you are on a call (or being rung); that ends by itself"
            )
        was = AgentStatus(current["status"]) if current else AgentStatus.OFFLINE
        idle = "CASE WHEN agent_states.status = 'available' THEN agent_states.idle_since ELSE $3 END"
        await self.sql.execute(
            "INSERT INTO agent_states (username, status, idle_since, with_call, offer_id, updated_at)"
            " VALUES ($1, $2, $3, '', '', $3) ON CONFLICT (username) DO UPDATE SET status = $2,"
            f" idle_since = {idle}, updated_at = $3"
            " WHERE agent_states.status NOT IN ('ringing', 'on_call')",
            username,
            status.value,
            now,
        )
        if was != status:
            await self.audit.record(username, "agent.status", username, f"{was} -> {status}")
        if status is AgentStatus.AVAILABLE:
            await self.dispatch()
        return next(a for a in await self.agents() if a.username == username)

    # --- the queue ---------------------------------------------------------------------------

    async def enqueue(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]
    ) -> QueueEntry:
        """Put a caller in the queue (a duplicate delivery finds the entry already there)."""
        now = self.clock()
        entry_id = _new_id()
        await self.sql.execute(
            f"INSERT INTO queue_entries ({_ENTRY_COLUMNS}, agent, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'waiting', '', '[]', '', $7)"
            " ON CONFLICT (call_sid) DO NOTHING",
            entry_id,
            call_sid,
            caller,
            reason,
            json.dumps(dict(context), sort_keys=True),
            context.get("skill", "") or self.config.language,
            now,
        )
        entry = await self.entry_for_call(call_sid)
        assert entry is not None
        log.info("call %s from %s queued (%s)", call_sid, mask_phone(caller), reason)
        return entry

    async def queue(self) -> list[QueueEntry]:
        """Callers waiting or being offered, in queue order, with their context."""
        rows = await self.sql.fetch(
            f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE state IN ('waiting', 'offered')"
        )
        return self._ordered(rows)

    async def entry(self, entry_id: str) -> QueueEntry | None:
        row = await self.sql.fetchone(f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE id = $1", entry_id)
        return await self._with_position(row) if row else None

    async def entry_for_call(self, call_sid: str) -> QueueEntry | None:
        row = await self.sql.fetchone(
            f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE call_sid = $1", call_sid
        )
        return await self._with_position(row) if row else None

    async def _with_position(self, row: Row) -> QueueEntry:
        if row["state"] not in LIVE_ENTRY:
            return self._entry(row, None)
        for entry in await self.queue():
            if entry.id == row["id"]:
                return entry
        return self._entry(row, None)

    def _ordered(self, rows: Sequence[Row]) -> list[QueueEntry]:
        by_id = {r["id"]: r for r in rows}
        waiting = [Waiting(r["id"], r["skill"], r["priority"], r["enqueued_at"]) for r in rows]
        return [self._entry(by_id[w.id], n) for n, w in enumerate(order(waiting), start=1)]

    def _entry(self, row: Row, position: int | None) -> QueueEntry:
        return QueueEntry(
            id=row["id"],
            call_sid=row["call_sid"],
            caller=row["caller"],
            reason=row["reason"],
            context=_context(row["context"]),
            skill=row["skill"],
            enqueued_at=row["enqueued_at"],
            waiting_seconds=max(0.0, self.clock() - row["enqueued_at"]),
            position=position,
            state=EntryState(row["state"]),
            offered_to=row["offered_to"],
            priority=row["priority"],
            declined_by=tuple(json.loads(row["declined_by"])),
        )

    async def wait_info(self, entry: QueueEntry) -> WaitInfo:
        """Position and estimate for a waiting caller, from the database (not Twilio's queue)."""
        position = entry.position or 1
        agents = await self.agents()
        working = sum(
            a.status in (AgentStatus.AVAILABLE, AgentStatus.RINGING, AgentStatus.ON_CALL) for a in agents
        )
        pace = await self._pace()
        estimate = int(math.ceil(position / max(1, working)) * pace)
        nobody_since = await self._nobody_available_since(agents, entry.enqueued_at)
        way_out = nobody_since is not None and self.clock() - nobody_since > self.config.max_queue_wait
        return WaitInfo(position, estimate, estimate > self.config.callback_offer_after, way_out)

    async def _pace(self) -> float:
        """Average wait of the last callers who reached an agent (the last day), else the default."""
        rows = await self.sql.fetch(
            "SELECT bridged_at - enqueued_at AS waited FROM queue_entries WHERE bridged_at IS NOT NULL"
            " AND bridged_at > $1 ORDER BY bridged_at DESC LIMIT 20",
            self.clock() - 86400,
        )
        if not rows:
            return self.config.pace_seconds
        return max(30.0, sum(r["waited"] for r in rows) / len(rows))

    async def _nobody_available_since(self, agents: Sequence[AgentState], enqueued_at: float) -> float | None:
        """Since when this caller has had no agent free or about to be; None if one is."""
        if any(a.status in (AgentStatus.AVAILABLE, AgentStatus.RINGING) for a in agents):
            return None
        return enqueued_at

    async def request_callback(self, entry_id: str) -> Callback | None:
        """The caller pressed 1 to be called back: store number, reason and context; leave the queue."""
        row = await self.sql.fetchone(f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE id = $1", entry_id)
        if row is None:
            return None
        callback_id = _new_id()
        now = self.clock()
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE queue_entries SET state = 'callback', ended_at = $2, updated_at = $2"
                        " WHERE id = $1 AND state = 'waiting'",
                        (entry_id, now),
                        expect_rows=1,
                    ),
                    Statement(
                        f"INSERT INTO callbacks ({_CALLBACK_COLUMNS}, customer_call_sid, updated_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $7, '', '', '', '', $7)",
                        (
                            callback_id,
                            row["call_sid"],
                            row["caller"],
                            row["reason"],
                            row["context"],
                            row["skill"],
                            now,
                        ),
                    ),
                ]
            )
        except Conflict:
            return await self.callback_for_call(row["call_sid"])
        log.info("call %s asked to be called back", row["call_sid"])
        return await self.callback(callback_id)

    async def choose_voicemail(self, entry_id: str) -> bool:
        """The caller chose to leave a message instead of waiting."""
        changed = await self.sql.execute(
            "UPDATE queue_entries SET state = 'voicemail', ended_at = $2, updated_at = $2"
            " WHERE id = $1 AND state = 'waiting'",
            entry_id,
            self.clock(),
        )
        return changed == 1

    async def left_queue(self, entry_id: str, result: str) -> QueueEntry | None:
        """Twilio's `<Enqueue action>`: a caller still waiting or offered has hung up (or been
        dropped by Twilio); one who chose a callback, voicemail or an agent keeps that state."""
        if result in ("hangup", "error", "system-error", "queue-full"):
            now = self.clock()
            await self.sql.execute(
                "UPDATE queue_entries SET state = 'abandoned', ended_at = $2, updated_at = $2"
                " WHERE id = $1 AND state IN ('waiting', 'offered')",
                entry_id,
                now,
            )
        return await self.entry(entry_id)

    # --- offers ------------------------------------------------------------------------------

    async def take(self, username: str, entry_id: str | None = None) -> QueueEntry:
        """An agent takes the next caller they can help, or a specific one: their phone rings
        with the whisper. Raises `DeskError` when that cannot be done, saying why."""
        agent = await self._idle(username)
        entries = await self.queue()
        waiting = [self._waiting(e) for e in entries if e.state is EntryState.WAITING]
        if entry_id is None:
            choice = pick_for(agent, waiting)
            if choice is None:
                raise DeskError(DeskErrorCode.NOTHING_TO_TAKE, "no caller is waiting for you")
            entry_id = choice.id
        elif not any(w.id == entry_id for w in waiting):
            raise DeskError(DeskErrorCode.ALREADY_TAKEN, "that caller is no longer waiting")
        await self._offer(OfferKind.ENTRY, entry_id, username, raise_errors=True)
        entry = await self.entry(entry_id)
        assert entry is not None
        return entry

    async def take_callback(self, username: str, callback_id: str) -> Callback:
        """An agent takes a callback: their phone rings with a whisper about it; on 1 the
        customer is called into the same conference."""
        await self._idle(username)
        callback = await self.callback(callback_id)
        if callback is None:
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such callback")
        if callback.state not in (CallbackState.PENDING, CallbackState.RETRY, CallbackState.FAILED):
            raise DeskError(DeskErrorCode.ALREADY_TAKEN, "that callback is already being worked on")
        await self._offer(OfferKind.CALLBACK, callback_id, username, raise_errors=True)
        taken = await self.callback(callback_id)
        assert taken is not None
        return taken

    async def _idle(self, username: str) -> Idle:
        account = await self.accounts.get(username)
        if account is None or account.disabled:
            raise DeskError(DeskErrorCode.NOT_FOUND, f"there is no agent called '{username}'")
        if not account.phone:
            raise DeskError(DeskErrorCode.NO_PHONE, "your account has no phone number to ring")
        row = await self.sql.fetchone("SELECT * FROM agent_states WHERE username = $1", username)
        if row is None or row["status"] not in (AgentStatus.AVAILABLE, AgentStatus.BUSY):
            raise DeskError(DeskErrorCode.AGENT_NOT_FREE, "set yourself available (or busy) first")
        return Idle(username, frozenset(account.skills), row["idle_since"])

    @staticmethod
    def _waiting(entry: QueueEntry) -> Waiting:
        return Waiting(
            entry.id,
            entry.skill,
            entry.priority,
            entry.enqueued_at,
            frozenset(entry.declined_by),
            topic_of(entry.context),
        )

    async def dispatch(self) -> int:
        """Offer waiting callers (and due callback retries) to available agents; returns offers made.

        Called when a caller is queued, an agent becomes available, and by the desk's
        background task; safe to call from any instance at any time.
        """
        if self.telephony is None:
            return 0
        made = 0
        for _ in range(50):  # each round makes one offer or stops
            agents = await self._available()
            if not agents:
                break
            entries = [self._waiting(e) for e in await self.queue() if e.state is EntryState.WAITING]
            found = pick(entries, agents)
            kind = OfferKind.ENTRY
            if found is None:
                found = pick(await self._due_callbacks(), agents)
                kind = OfferKind.CALLBACK
            if found is None:
                break
            subject, agent = found
            if not await self._offer(kind, subject.id, agent.username, raise_errors=False):
                break
            made += 1
        return made

    async def _available(self) -> list[Idle]:
        rows = await self.sql.fetch(
            "SELECT username, idle_since FROM agent_states WHERE status = 'available'"
        )
        idle = {r["username"]: r["idle_since"] for r in rows}
        return [
            Idle(a.username, frozenset(a.skills), idle[a.username])
            for a in await self.accounts.list()
            if a.username in idle and a.phone and not a.disabled
        ]

    async def _due_callbacks(self) -> list[Waiting]:
        rows = await self.sql.fetch(
            "SELECT id, skill, context, next_attempt_at FROM callbacks"
            " WHERE state = 'retry' AND next_attempt_at <= $1",
            self.clock(),
        )
        return [
            Waiting(r["id"], r["skill"], 0, r["next_attempt_at"], topic=topic_of(json.loads(r["context"])))
            for r in rows
        ]

    async def _offer(self, kind: OfferKind, subject: str, username: str, *, raise_errors: bool) -> bool:
        """Claim the subject and the agent in one batch, then ring the agent's phone."""
        if self.telephony is None:
            if raise_errors:
                raise DeskError(
                    DeskErrorCode.NO_TELEPHONY, "the line cannot place calls (no Twilio account set)"
                )
            return False
        account = await self.accounts.get(username)
        assert account is not None
        offer_id, now = _new_id(), self.clock()
        if kind is OfferKind.ENTRY:
            claim = Statement(
                "UPDATE queue_entries SET state = 'offered', offered_to = $2, updated_at = $3"
                " WHERE id = $1 AND state = 'waiting'",
                (subject, username, now),
                expect_rows=1,
            )
            with_call_query = "SELECT call_sid FROM queue_entries WHERE id = $1"
        else:
            claim = Statement(
                "UPDATE callbacks SET state = 'offered', agent = $2, updated_at = $3"
                " WHERE id = $1 AND state IN ('pending', 'retry', 'failed')",
                (subject, username, now),
                expect_rows=1,
            )
            with_call_query = "SELECT call_sid FROM callbacks WHERE id = $1"
        with_call = await self.sql.fetchone(with_call_query, subject)
        try:
            await self.sql.atomic(
                [
                    claim,
                    Statement(
                        "UPDATE agent_states SET status = 'ringing', offer_id = $2, with_call = $3,"
                        " updated_at = $4 WHERE username = $1 AND status IN ('available', 'busy')",
                        (username, offer_id, with_call["call_sid"] if with_call else "", now),
                        expect_rows=1,
                    ),
                    Statement(
                        "INSERT INTO agent_offers (id, kind, subject, agent, agent_call_sid, state,"
                        " created_at, updated_at) VALUES ($1, $2, $3, $4, '', 'ringing', $5, $5)",
                        (offer_id, kind.value, subject, username, now),
                    ),
                ]
            )
        except Conflict:
            if raise_errors:
                raise DeskError(DeskErrorCode.ALREADY_TAKEN, "someone else took it first") from None
            return True  # another instance made this offer; go round again
        try:
            call_sid = await self.telephony.place_call(
                account.phone,
                self.urls.whisper(offer_id),
                status_callback=self.urls.agent_status(offer_id),
                ring_seconds=self.config.ring_seconds,
            )
        except TelephonyError as exc:
            log.error("%s: could not ring agent %s: %s", exc.code, username, exc.detail)
            await self._offer_over(offer_id, OfferState.MISSED, agent_status=AgentStatus.AVAILABLE)
            if raise_errors:
                raise DeskError(
                    DeskErrorCode.TELEPHONY_FAILED, "your phone could not be rung; try again"
                ) from exc
            return False
        await self.sql.execute(
            "UPDATE agent_offers SET agent_call_sid = $2 WHERE id = $1", offer_id, call_sid
        )
        log.info("offer %s: ringing %s for %s %s", offer_id, username, kind.value, subject)
        return True

    async def offer(self, offer_id: str) -> Offer | None:
        row = await self.sql.fetchone("SELECT * FROM agent_offers WHERE id = $1", offer_id)
        if row is None:
            return None
        return Offer(
            row["id"],
            OfferKind(row["kind"]),
            row["subject"],
            row["agent"],
            row["agent_call_sid"],
            OfferState(row["state"]),
        )

    async def accept(self, offer_id: str) -> Accepted | None:
        """The agent pressed 1. None when the offer is unknown or no longer ringing."""
        offer = await self.offer(offer_id)
        if offer is None:
            return None
        now = self.clock()
        changed = await self.sql.execute(
            "UPDATE agent_offers SET state = 'accepted', updated_at = $2 WHERE id = $1 AND state = 'ringing'",
            offer_id,
            now,
        )
        if changed != 1:
            return None
        assert self.telephony is not None
        conference = conference_name(offer.kind, offer.subject)
        if offer.kind is OfferKind.ENTRY:
            entry = await self.entry(offer.subject)
            assert entry is not None
            try:
                await self.telephony.redirect_call(entry.call_sid, self.urls.join(entry.id))
            except TelephonyError as exc:
                log.warning("%s: caller of entry %s is gone: %s", exc.code, entry.id, exc.detail)
                await self.sql.execute(
                    "UPDATE queue_entries SET state = 'abandoned', ended_at = $2, updated_at = $2"
                    " WHERE id = $1",
                    entry.id,
                    now,
                )
                await self._offer_over(offer_id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
                return Accepted("", "I'm sorry, the caller has hung up.")
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE queue_entries SET state = 'bridged', agent = $2, bridged_at = $3,"
                        " updated_at = $3"
                        " WHERE id = $1",
                        (entry.id, offer.agent, now),
                    ),
                    Statement(
                        "UPDATE agent_states SET status = 'on_call', updated_at = $2 WHERE username = $1",
                        (offer.agent, now),
                    ),
                ]
            )
            log.info("entry %s bridged with %s", entry.id, offer.agent)
            return Accepted(conference)
        callback = await self.callback(offer.subject)
        assert callback is not None
        try:
            customer_sid = await self.telephony.place_call(
                callback.number,
                self.urls.callback_join(callback.id),
                status_callback=self.urls.callback_status(callback.id),
                ring_seconds=30,
            )
        except TelephonyError as exc:
            log.error("%s: callback %s could not be placed: %s", exc.code, callback.id, exc.detail)
            await self._callback_failed(callback.id, f"{exc.code}: {exc.detail}")
            await self._offer_over(offer_id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
            return Accepted(
                "", "I'm sorry, the call to the customer could not be placed. It will be tried again."
            )
        await self.sql.atomic(
            [
                Statement(
                    "UPDATE callbacks SET state = 'calling', customer_call_sid = $2, updated_at = $3"
                    " WHERE id = $1",
                    (callback.id, customer_sid, now),
                ),
                Statement(
                    "UPDATE agent_states SET status = 'on_call', with_call = $2, updated_at = $3"
                    " WHERE username = $1",
                    (offer.agent, customer_sid, now),
                ),
            ]
        )
        return Accepted(conference, "Calling the customer now.")

    async def decline(self, offer_id: str) -> bool:
        """The agent pressed another key: the caller goes back to the head of the queue, and is
        not offered to this agent again; the agent stays available."""
        return await self._offer_over(offer_id, OfferState.DECLINED, agent_status=AgentStatus.AVAILABLE)

    async def missed(self, offer_id: str) -> bool:
        """Not answered, busy, failed, or no key in time: the caller goes back to the head of the
        queue, and the agent is set offline (they are evidently not at their phone)."""
        return await self._offer_over(offer_id, OfferState.MISSED, agent_status=AgentStatus.OFFLINE)

    async def _offer_over(self, offer_id: str, state: OfferState, *, agent_status: AgentStatus) -> bool:
        offer = await self.offer(offer_id)
        if offer is None:
            return False
        now = self.clock()
        statements = [
            Statement(
                "UPDATE agent_offers SET state = $2, updated_at = $3"
                " WHERE id = $1 AND state IN ('ringing', 'accepted')",
                (offer_id, state.value, now),
                expect_rows=1,
            ),
            Statement(
                "UPDATE agent_states SET status = $2, offer_id = '', with_call = '', updated_at = $3,"
                " idle_since = CASE WHEN $4 = 1 THEN $3 ELSE idle_since END"
                " WHERE username = $1 AND offer_id = $5",
                (offer.agent, agent_status.value, now, int(state is OfferState.ENDED), offer_id),
            ),
        ]
        if state is not OfferState.ENDED and offer.kind is OfferKind.ENTRY:
            declined = state is OfferState.DECLINED
            statements.append(
                Statement(
                    "UPDATE queue_entries SET state = 'waiting', priority = 1, offered_to = '',"
                    " updated_at = $2,"
                    " declined_by = CASE WHEN $3 = 1 THEN $4 ELSE declined_by END"
                    " WHERE id = $1 AND state = 'offered'",
                    (
                        offer.subject,
                        now,
                        int(declined),
                        await self._declined_with(offer.subject, offer.agent),
                    ),
                )
            )
        elif state is not OfferState.ENDED:
            statements.append(
                Statement(
                    "UPDATE callbacks SET state = CASE WHEN attempts > 0 THEN 'retry' ELSE 'pending' END,"
                    " agent = '', updated_at = $2 WHERE id = $1 AND state = 'offered'",
                    (offer.subject, now),
                )
            )
        try:
            await self.sql.atomic(statements)
        except Conflict:
            return False  # already settled (a duplicate webhook, or another instance)
        log.info("offer %s %s by %s", offer_id, state.value, offer.agent)
        return True

    async def _declined_with(self, entry_id: str, username: str) -> str:
        row = await self.sql.fetchone("SELECT declined_by FROM queue_entries WHERE id = $1", entry_id)
        names = set(json.loads(row["declined_by"])) if row else set()
        return json.dumps(sorted(names | {username}))

    async def agent_call_ended(self, offer_id: str, status: str) -> None:
        """The status callback of an agent's leg."""
        offer = await self.offer(offer_id)
        if offer is None or status not in ENDED_CALL:
            return
        if offer.state is OfferState.RINGING:
            await self.missed(offer_id)
        elif offer.state is OfferState.ACCEPTED:
            now = self.clock()
            if offer.kind is OfferKind.ENTRY:
                await self.sql.execute(
                    "UPDATE queue_entries SET state = 'done', ended_at = $2, updated_at = $2"
                    " WHERE id = $1 AND state = 'bridged'",
                    offer.subject,
                    now,
                )
            else:
                await self.sql.execute(
                    "UPDATE callbacks SET state = 'done', updated_at = $2"
                    " WHERE id = $1 AND state = 'connected'",
                    offer.subject,
                    now,
                )
            # Back to available, idle from now (routing prefers whoever has waited longest).
            await self._offer_over(offer_id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
        await self.dispatch()

    # --- callbacks ---------------------------------------------------------------------------

    async def callbacks(self, include_done: bool = False) -> list[Callback]:
        states = [s.value for s in (CallbackState if include_done else OPEN_CALLBACK)]
        rows = await self.sql.fetch(f"SELECT {_CALLBACK_COLUMNS} FROM callbacks ORDER BY requested_at")
        return [self._callback(r) for r in rows if r["state"] in states]

    async def callback(self, callback_id: str) -> Callback | None:
        row = await self.sql.fetchone(f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE id = $1", callback_id)
        return self._callback(row) if row else None

    async def callback_for_call(self, call_sid: str) -> Callback | None:
        row = await self.sql.fetchone(
            f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE call_sid = $1", call_sid
        )
        return self._callback(row) if row else None

    @staticmethod
    def _callback(row: Row) -> Callback:
        return Callback(
            id=row["id"],
            call_sid=row["call_sid"],
            number=row["number"],
            reason=row["reason"],
            context=_context(row["context"]),
            skill=row["skill"],
            requested_at=row["requested_at"],
            state=CallbackState(row["state"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            agent=row["agent"],
            last_error=row["last_error"],
            done_by=row["done_by"],
        )

    async def callback_answered(self, callback_id: str) -> Callback | None:
        """The customer picked up: they join the agent's conference."""
        await self.sql.execute(
            "UPDATE callbacks SET state = 'connected', updated_at = $2 WHERE id = $1 AND state = 'calling'",
            callback_id,
            self.clock(),
        )
        callback = await self.callback(callback_id)
        return callback if callback and callback.state is CallbackState.CONNECTED else None

    async def callback_call_ended(self, callback_id: str, status: str) -> None:
        """The status callback of the customer's leg: a call not answered counts as an attempt."""
        callback = await self.callback(callback_id)
        if callback is None or status not in ENDED_CALL:
            return
        if callback.state is CallbackState.CALLING and status != "completed":
            await self._callback_failed(callback_id, f"the customer's phone: {status}")
            await self._hang_up_agent_of(callback)

    async def _hang_up_agent_of(self, callback: Callback) -> None:
        row = await self.sql.fetchone(
            "SELECT agent_call_sid FROM agent_offers WHERE subject = $1 AND state = 'accepted'", callback.id
        )
        if row and row["agent_call_sid"] and self.telephony is not None:
            try:
                await self.telephony.hang_up(row["agent_call_sid"])
            except TelephonyError as exc:
                log.warning("%s: could not hang up the agent's leg: %s", exc.code, exc.detail)

    async def _callback_failed(self, callback_id: str, why: str) -> None:
        """One more failed attempt: retried later with backoff, or `failed` after the last."""
        row = await self.sql.fetchone("SELECT attempts FROM callbacks WHERE id = $1", callback_id)
        if row is None:
            return
        attempts = row["attempts"] + 1
        now = self.clock()
        if attempts >= self.config.callback_attempts:
            state, next_at = CallbackState.FAILED, now
        else:
            state, next_at = CallbackState.RETRY, now + self.config.callback_backoff * 2 ** (attempts - 1)
        await self.sql.execute(
            "UPDATE callbacks SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5,"
            " agent = '', updated_at = $6 WHERE id = $1",
            callback_id,
            state.value,
            attempts,
            next_at,
            why,
            now,
        )
        log.warning("callback %s attempt %s failed (%s): %s", callback_id, attempts, state.value, why)

    async def mark_callback_done(self, callback_id: str, username: str) -> None:
        changed = await self.sql.execute(
            "UPDATE callbacks SET state = 'done', done_by = $2, updated_at = $3 WHERE id = $1",
            callback_id,
            username,
            self.clock(),
        )
        if changed != 1:
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such callback")
        await self.audit.record(username, "callback.done", callback_id)

    # --- voicemail ---------------------------------------------------------------------------

    async def start_voicemail(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]
    ) -> str:
        """A caller is about to record: keep who and why now, the recording comes later."""
        vm_id = _new_id()
        await self.sql.execute(
            f"INSERT INTO voicemails ({_VOICEMAIL_COLUMNS}, recording_sid, claimed_at, done_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, '', 0, '', '', 'pending', '', 'recording', '', '', 0, NULL)",
            vm_id,
            call_sid,
            caller,
            reason,
            json.dumps(dict(context), sort_keys=True),
            self.clock(),
        )
        return vm_id

    async def voicemail_from_entry(self, entry_id: str) -> str | None:
        row = await self.sql.fetchone(
            "SELECT call_sid, caller, reason, context FROM queue_entries WHERE id = $1", entry_id
        )
        if row is None:
            return None
        return await self.start_voicemail(
            row["call_sid"], row["caller"], row["reason"], _context(row["context"])
        )

    async def recording_ready(
        self, vm_id: str, recording_url: str, recording_sid: str, duration: int
    ) -> bool:
        """Twilio's recording status callback: the voicemail becomes a ticket, audio to fetch."""
        changed = await self.sql.execute(
            "UPDATE voicemails SET state = 'new', recording_url = $2, recording_sid = $3, duration = $4"
            " WHERE id = $1 AND state = 'recording'",
            vm_id,
            recording_url,
            recording_sid,
            duration,
        )
        return changed == 1

    async def claim_voicemail(self, stale_after: float = 300.0) -> Voicemail | None:
        """The next recording to fetch and transcribe (one worker at a time per voicemail)."""
        now = self.clock()
        rows = await self.sql.fetch(
            "SELECT id FROM voicemails WHERE state = 'new' AND (transcript_status = 'pending'"
            " OR (transcript_status = 'working' AND claimed_at < $1)) ORDER BY created_at LIMIT 5",
            now - stale_after,
        )
        for row in rows:
            changed = await self.sql.execute(
                "UPDATE voicemails SET transcript_status = 'working', claimed_at = $2 WHERE id = $1"
                " AND (transcript_status = 'pending' OR (transcript_status = 'working' AND claimed_at < $3))",
                row["id"],
                now,
                now - stale_after,
            )
            if changed == 1:
                return await self.voicemail(row["id"])
        return None

    async def voicemail_processed(
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

    async def voicemails(self, include_done: bool = False) -> list[Voicemail]:
        states = "('new', 'done')" if include_done else "('new')"
        rows = await self.sql.fetch(
            f"SELECT {_VOICEMAIL_COLUMNS} FROM voicemails WHERE state IN {states} ORDER BY created_at"
        )
        return [self._voicemail(r) for r in rows]

    async def voicemail(self, vm_id: str) -> Voicemail | None:
        row = await self.sql.fetchone(f"SELECT {_VOICEMAIL_COLUMNS} FROM voicemails WHERE id = $1", vm_id)
        return self._voicemail(row) if row else None

    @staticmethod
    def _voicemail(row: Row) -> Voicemail:
        return Voicemail(
            id=row["id"],
            call_sid=row["call_sid"],
            caller=row["caller"],
            reason=row["reason"],
            context=_context(row["context"]),
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

    async def mark_voicemail_done(self, vm_id: str, username: str) -> None:
        changed = await self.sql.execute(
            "UPDATE voicemails SET state = 'done', done_by = $2, done_at = $3"
            " WHERE id = $1 AND state <> 'recording'",
            vm_id,
            username,
            self.clock(),
        )
        if changed != 1:
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such voicemail")
        await self.audit.record(username, "voicemail.done", vm_id)

    # --- the rest of the desk ----------------------------------------------------------------

    async def handed_to_agents(self, call_sid: str) -> bool:
        """Whether this call came to the agents: queued for one, or left a callback or a voicemail.

        Agents may read the transcripts of these calls only (see `ivr.console.agent_desk`).
        """
        row = await self.sql.fetchone(
            "SELECT call_sid FROM queue_entries WHERE call_sid = $1"
            " UNION ALL SELECT call_sid FROM callbacks WHERE call_sid = $1"
            " UNION ALL SELECT call_sid FROM voicemails WHERE call_sid = $1",
            call_sid,
        )
        return row is not None

    async def transcript(self, call_sid: str) -> list[TranscriptEntry]:
        """What the bot and the caller said before the hand-off (live call or filed record)."""
        session = None
        if self.sessions is not None:
            session = await self.sessions.load(call_sid)
        if session is None and self.calls is not None:
            session = await self.calls.get_call(call_sid)
        return list(session.transcript) if session else []

    async def emergency_closed(self) -> bool:
        row = await self.sql.fetchone("SELECT is_on FROM line_switches WHERE name = $1", EMERGENCY)
        return bool(row and row["is_on"])

    async def set_emergency_closed(self, on: bool, by: str) -> None:
        """A supervisor closes (or reopens) the line at once; audited in the same batch."""
        now = self.clock()
        await self.sql.atomic(
            [
                Statement(
                    "INSERT INTO line_switches (name, is_on, changed_at, changed_by) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (name) DO UPDATE SET is_on = $2, changed_at = $3, changed_by = $4",
                    (EMERGENCY, int(on), now, by),
                ),
                Statement(
                    AuditLog.INSERT,
                    self.audit.entry_args(by, "line.emergency_closed", "line", "on" if on else "off"),
                ),
            ]
        )

    async def snapshot(self) -> DeskSnapshot:
        """Everything the desk shows, read from the database (so every instance agrees)."""
        return DeskSnapshot(
            at=self.clock(),
            agents=await self.agents(),
            queue=await self.queue(),
            callbacks=await self.callbacks(),
            voicemails=await self.voicemails(),
            emergency_closed=await self.emergency_closed(),
        )
