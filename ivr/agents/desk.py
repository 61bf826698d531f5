"""The agent desk service: who is offered which caller or callback, and what each webhook changes.

Our database is the source of truth; Twilio's `<Enqueue>` only holds the caller and plays
what `/voice/queue/wait` says. The records live in one store per kind (`ivr.agents.store`);
this service decides and dispatches. Every change that spans records is one `atomic` batch
whose guards (`expect_rows`) make two instances behind a load balancer agree: an entry is
offered to one agent at a time, an agent rings for one offer at a time, and a late or
duplicated webhook finds the row already moved on and changes nothing.

`AgentDesk` is the one facade both sides use: the console (status, queue, take, callbacks,
voicemails, snapshot) and the webhooks (enqueue, offers, accept/decline, call endings). It
calls the phone network only through `Telephony`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.agents.model import (
    SETTABLE,
    Accepted,
    AgentState,
    AgentStatus,
    Callback,
    CallbackState,
    DeskError,
    DeskErrorCode,
    DeskSnapshot,
    EntryState,
    Offer,
    OfferKind,
    OfferState,
    QueueEntry,
    TranscriptStatus,
    Voicemail,
    WaitInfo,
    conference_name,
)
from ivr.agents.routing import Idle, pick, pick_for
from ivr.agents.store import DeskStores
from ivr.agents.store.encoding import new_id
from ivr.agents.store.switches import EMERGENCY
from ivr.agents.urls import Urls
from ivr.logs import mask_phone
from ivr.session import FINAL_STATUSES, CallStatus, TranscriptEntry
from ivr.store.accounts import Account, AccountStore
from ivr.store.audit import AuditLog
from ivr.store.base import CallLog, SessionStore
from ivr.store.sql import Conflict, Sql, Statement
from ivr.telephony import Telephony, TelephonyError

log = logging.getLogger(__name__)

NO_TELEPHONY = "the line cannot place calls (no Twilio account set)"


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
    callback_ring_seconds: int = 30
    """How long a customer's phone rings for their callback before the attempt counts as failed."""
    pace_seconds: float = 180.0
    """Assumed wait per caller ahead before there is any history to estimate from."""
    language: str = ""
    """The line's language: the skill a caller needs from an agent (see `routing`)."""


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
        """Runs the batches that span stores; the stores below run everything else."""
        self.store = DeskStores.over(sql, clock=clock)
        self.accounts = accounts
        self.audit = audit
        self.telephony = telephony
        """None until the app has opened its Twilio client (and after it closed it)."""
        self.urls = urls
        self.config = config
        self.sessions = sessions
        self.calls = calls
        self.clock = clock

    # --- agents ------------------------------------------------------------------------------

    async def agents(self) -> list[AgentState]:
        """Every agent account (enabled, with a phone), with their current status."""
        states = await self.store.agent_states.all()
        out: list[AgentState] = []
        for account in await self.accounts.list():
            if account.disabled or not account.phone:
                continue
            state = states.get(account.username)
            out.append(
                AgentState(
                    username=account.username,
                    display_name=account.display_name,
                    status=state.status if state else AgentStatus.OFFLINE,
                    idle_since=state.idle_since if state else 0.0,
                    on_call_with=state.on_call_with if state else "",
                    skills=account.skills,
                )
            )
        return out

    async def set_status(self, username: str, status: AgentStatus) -> AgentState:
        """An agent sets themselves available, busy or offline (not while ringing or on a call:
        those end by themselves)."""
        if status not in SETTABLE:
            raise DeskError(DeskErrorCode.BAD_STATUS, f"'{status}' is set by the desk, not by agents")
        await self._agent_account(username)
        current = await self.store.agent_states.get(username)
        was = current.status if current else AgentStatus.OFFLINE
        if not await self.store.agent_states.set(username, status):
            raise DeskError(
                DeskErrorCode.AGENT_NOT_FREE, "you are on a call (or being rung); that ends by itself"
            )
        if was != status:
            await self.audit.record(username, "agent.status", username, f"{was} -> {status}")
        if status is AgentStatus.AVAILABLE:
            await self.dispatch()
        return next(a for a in await self.agents() if a.username == username)

    async def _agent_account(self, username: str) -> Account:
        """The account of an agent who may take calls (enabled, with a phone); `DeskError` if not."""
        account = await self.accounts.get(username)
        if account is None or account.disabled:
            raise DeskError(DeskErrorCode.NOT_FOUND, f"there is no agent called '{username}'")
        if not account.phone:
            raise DeskError(DeskErrorCode.NO_PHONE, "your account has no phone number to ring")
        return account

    # --- the queue ---------------------------------------------------------------------------

    async def enqueue(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]
    ) -> QueueEntry:
        """Put a caller in the queue (a duplicate delivery finds the entry already there)."""
        skill = context.get("skill", "") or self.config.language
        entry = await self.store.queue.add(call_sid, caller, reason, context, skill)
        log.info("call %s from %s queued (%s)", call_sid, mask_phone(caller), reason)
        return entry

    async def queue(self) -> list[QueueEntry]:
        """Callers waiting or being offered, in queue order, with their context."""
        return await self.store.queue.live()

    async def entry(self, entry_id: str) -> QueueEntry | None:
        return await self.store.queue.get(entry_id)

    async def entry_for_call(self, call_sid: str) -> QueueEntry | None:
        return await self.store.queue.for_call(call_sid)

    async def wait_info(self, entry: QueueEntry) -> WaitInfo:
        """Position and estimate for a waiting caller, from the database (not Twilio's queue)."""
        position = entry.position or 1
        agents = await self.agents()
        working = sum(
            a.status in (AgentStatus.AVAILABLE, AgentStatus.RINGING, AgentStatus.ON_CALL) for a in agents
        )
        estimate = int(math.ceil(position / max(1, working)) * await self._pace())
        # Nobody free or about to be: the caller has had nobody since they were queued.
        nobody = not any(a.status in (AgentStatus.AVAILABLE, AgentStatus.RINGING) for a in agents)
        way_out = nobody and self.clock() - entry.enqueued_at > self.config.max_queue_wait
        return WaitInfo(position, estimate, estimate > self.config.callback_offer_after, way_out)

    async def _pace(self) -> float:
        """Average wait of the last callers who reached an agent (the last day), else the default."""
        waits = await self.store.queue.recent_waits(self.clock() - 86400, 20)
        if not waits:
            return self.config.pace_seconds
        return max(30.0, sum(waits) / len(waits))

    async def request_callback(self, entry_id: str) -> Callback | None:
        """The caller pressed 1 to be called back: store number, reason and context; leave the queue."""
        entry = await self.store.queue.get(entry_id)
        if entry is None:
            return None
        callback_id = new_id()
        try:
            await self.sql.atomic(
                [self.store.queue.to_callback(entry_id), self.store.callbacks.add(callback_id, entry)]
            )
        except Conflict:
            return await self.store.callbacks.for_call(entry.call_sid)
        log.info("call %s asked to be called back", entry.call_sid)
        return await self.store.callbacks.get(callback_id)

    async def choose_voicemail(self, entry_id: str) -> bool:
        """The caller chose to leave a message instead of waiting."""
        return await self.store.queue.leave(entry_id, EntryState.VOICEMAIL)

    async def left_queue(self, entry_id: str, result: str) -> QueueEntry | None:
        """Twilio's `<Enqueue action>`: a caller still waiting or offered has hung up (or been
        dropped by Twilio); one who chose a callback, voicemail or an agent keeps that state."""
        if result in ("hangup", "error", "system-error", "queue-full"):
            await self.store.queue.abandon(entry_id, only_live=True)
        return await self.store.queue.get(entry_id)

    # --- offers ------------------------------------------------------------------------------

    async def take(self, username: str, entry_id: str | None = None) -> QueueEntry:
        """An agent takes the next caller they can help, or a specific one: their phone rings
        with the whisper. Raises `DeskError` when that cannot be done, saying why."""
        agent = await self._idle(username)
        if entry_id is None:
            choice = pick_for(agent, await self.store.queue.waiting())
            if choice is None:
                raise DeskError(DeskErrorCode.NOTHING_TO_TAKE, "no caller is waiting for you")
            entry_id = choice.id
        entry = await self.store.queue.get(entry_id)
        if entry is None or entry.state is not EntryState.WAITING:
            raise DeskError(DeskErrorCode.ALREADY_TAKEN, "that caller is no longer waiting")
        await self._offer(OfferKind.ENTRY, entry_id, username, raise_errors=True)
        return await self.store.queue.get(entry_id) or entry

    async def take_callback(self, username: str, callback_id: str) -> Callback:
        """An agent takes a callback: their phone rings with a whisper about it; on 1 the
        customer is called into the same conference."""
        await self._idle(username)
        callback = await self.store.callbacks.get(callback_id)
        if callback is None:
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such callback")
        if callback.state not in (CallbackState.PENDING, CallbackState.RETRY, CallbackState.FAILED):
            raise DeskError(DeskErrorCode.ALREADY_TAKEN, "that callback is already being worked on")
        await self._offer(OfferKind.CALLBACK, callback_id, username, raise_errors=True)
        return await self.store.callbacks.get(callback_id) or callback

    async def _idle(self, username: str) -> Idle:
        account = await self._agent_account(username)
        state = await self.store.agent_states.get(username)
        if state is None or state.status not in (AgentStatus.AVAILABLE, AgentStatus.BUSY):
            raise DeskError(DeskErrorCode.AGENT_NOT_FREE, "set yourself available (or busy) first")
        return Idle(username, frozenset(account.skills), state.idle_since)

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
            found = pick(await self.store.queue.waiting(), agents)
            kind = OfferKind.ENTRY
            if found is None:
                found = pick(await self.store.callbacks.due(), agents)
                kind = OfferKind.CALLBACK
            if found is None:
                break
            subject, agent = found
            if not await self._offer(kind, subject.id, agent.username, raise_errors=False):
                break
            made += 1
        return made

    async def _available(self) -> list[Idle]:
        idle = {p.username: p.idle_since for p in await self.store.agent_states.available()}
        return [
            Idle(a.username, frozenset(a.skills), idle[a.username])
            for a in await self.accounts.list()
            if a.username in idle and a.phone and not a.disabled
        ]

    async def _offer(self, kind: OfferKind, subject: str, username: str, *, raise_errors: bool) -> bool:
        """Claim the subject and the agent in one batch, then ring the agent's phone."""
        if self.telephony is None:
            if raise_errors:
                raise DeskError(DeskErrorCode.NO_TELEPHONY, NO_TELEPHONY)
            return False
        account = await self._agent_account(username)
        offer_id = new_id()
        if kind is OfferKind.ENTRY:
            entry = await self.store.queue.get(subject)
            claim, with_call = self.store.queue.offer(subject, username), entry.call_sid if entry else ""
        else:
            callback = await self.store.callbacks.get(subject)
            claim, with_call = (
                self.store.callbacks.offer(subject, username),
                callback.call_sid if callback else "",
            )
        try:
            await self.sql.atomic(
                [
                    claim,
                    self.store.agent_states.ring(username, offer_id, with_call),
                    self.store.offers.add(offer_id, kind, subject, username),
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
        await self.store.offers.ringing_on(offer_id, call_sid)
        log.info("offer %s: ringing %s for %s %s", offer_id, username, kind.value, subject)
        return True

    async def offer(self, offer_id: str) -> Offer | None:
        return await self.store.offers.get(offer_id)

    async def accept(self, offer_id: str) -> Accepted | None:
        """The agent pressed 1. None when the offer is unknown or no longer ringing.

        When the line cannot place calls any more (its Twilio client closed while the agent's
        phone rang) the offer falls through: the caller goes back to the head of the queue."""
        offer = await self.store.offers.get(offer_id)
        if offer is None or not await self.store.offers.accept(offer_id):
            return None
        telephony = self.telephony
        if telephony is None:
            log.error("%s: offer %s accepted but %s", DeskErrorCode.NO_TELEPHONY, offer_id, NO_TELEPHONY)
            await self._offer_over(offer_id, OfferState.MISSED, agent_status=AgentStatus.AVAILABLE)
            return Accepted(
                "", "I'm sorry, the line cannot connect calls right now. Please try again shortly."
            )
        if offer.kind is OfferKind.ENTRY:
            return await self._bridge_entry(offer, telephony)
        return await self._call_customer(offer, telephony)

    async def _bridge_entry(self, offer: Offer, telephony: Telephony) -> Accepted:
        """Redirect the waiting caller out of Twilio's queue into the agent's conference."""
        entry = await self.store.queue.get(offer.subject)
        if entry is not None:
            try:
                await telephony.redirect_call(entry.call_sid, self.urls.join(entry.id))
            except TelephonyError as exc:
                log.warning("%s: caller of entry %s is gone: %s", exc.code, entry.id, exc.detail)
                entry = None
        if entry is None:
            await self.store.queue.abandon(offer.subject, only_live=False)
            await self._offer_over(offer.id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
            return Accepted("", "I'm sorry, the caller has hung up.")
        await self.sql.atomic(
            [
                self.store.queue.bridge(entry.id, offer.agent),
                self.store.agent_states.on_call(offer.agent),
            ]
        )
        log.info("entry %s bridged with %s", entry.id, offer.agent)
        return Accepted(conference_name(offer.kind, offer.subject))

    async def _call_customer(self, offer: Offer, telephony: Telephony) -> Accepted:
        """Call the customer of a callback into the agent's conference."""
        callback = await self.store.callbacks.get(offer.subject)
        if callback is None:  # nothing deletes callbacks; still, end the offer rather than fail the webhook
            await self._offer_over(offer.id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
            return Accepted("", "I'm sorry, this callback is no longer needed.")
        try:
            customer_sid = await telephony.place_call(
                callback.number,
                self.urls.callback_join(callback.id),
                status_callback=self.urls.callback_status(callback.id),
                ring_seconds=self.config.callback_ring_seconds,
            )
        except TelephonyError as exc:
            log.error("%s: callback %s could not be placed: %s", exc.code, callback.id, exc.detail)
            await self._callback_failed(callback.id, f"{exc.code}: {exc.detail}")
            await self._offer_over(offer.id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
            return Accepted(
                "", "I'm sorry, the call to the customer could not be placed. It will be tried again."
            )
        await self.sql.atomic(
            [
                self.store.callbacks.calling(callback.id, customer_sid),
                self.store.agent_states.on_call(offer.agent, with_call=customer_sid),
            ]
        )
        return Accepted(conference_name(offer.kind, offer.subject), "Calling the customer now.")

    async def decline(self, offer_id: str) -> bool:
        """The agent pressed another key: the caller goes back to the head of the queue, and is
        not offered to this agent again; the agent stays available."""
        return await self._offer_over(offer_id, OfferState.DECLINED, agent_status=AgentStatus.AVAILABLE)

    async def missed(self, offer_id: str) -> bool:
        """Not answered, busy, failed, or no key in time: the caller goes back to the head of the
        queue, and the agent is set offline (they are evidently not at their phone)."""
        return await self._offer_over(offer_id, OfferState.MISSED, agent_status=AgentStatus.OFFLINE)

    async def _offer_over(self, offer_id: str, state: OfferState, *, agent_status: AgentStatus) -> bool:
        """Settle the offer, free the agent and (unless it ended after a call) put its subject back."""
        offer = await self.store.offers.get(offer_id)
        if offer is None:
            return False
        ended = state is OfferState.ENDED
        statements = [
            self.store.offers.settle(offer_id, state),
            self.store.agent_states.release(offer.agent, offer_id, agent_status, idle_from_now=ended),
        ]
        if not ended and offer.kind is OfferKind.ENTRY:
            declined_by = offer.agent if state is OfferState.DECLINED else None
            statements.append(await self.store.queue.put_back(offer.subject, declined_by=declined_by))
        elif not ended:
            statements.append(self.store.callbacks.put_back(offer.subject))
        try:
            await self.sql.atomic(statements)
        except Conflict:
            return False  # already settled (a duplicate webhook, or another instance)
        log.info("offer %s %s by %s", offer_id, state.value, offer.agent)
        return True

    async def agent_call_ended(self, offer_id: str, status: str) -> None:
        """The status callback of an agent's leg."""
        offer = await self.store.offers.get(offer_id)
        if offer is None or status not in FINAL_STATUSES:
            return
        if offer.state is OfferState.RINGING:
            await self.missed(offer_id)
        elif offer.state is OfferState.ACCEPTED:
            if offer.kind is OfferKind.ENTRY:
                await self.store.queue.finish(offer.subject)
            else:
                await self.store.callbacks.finish(offer.subject)
            # Back to available, idle from now (routing prefers whoever has waited longest).
            await self._offer_over(offer_id, OfferState.ENDED, agent_status=AgentStatus.AVAILABLE)
        await self.dispatch()

    # --- callbacks ---------------------------------------------------------------------------

    async def callbacks(self, include_done: bool = False) -> list[Callback]:
        return await self.store.callbacks.listed(include_done=include_done)

    async def callback(self, callback_id: str) -> Callback | None:
        return await self.store.callbacks.get(callback_id)

    async def callback_for_call(self, call_sid: str) -> Callback | None:
        return await self.store.callbacks.for_call(call_sid)

    async def callback_answered(self, callback_id: str) -> Callback | None:
        """The customer picked up: they join the agent's conference."""
        if not await self.store.callbacks.answered(callback_id):
            return None
        return await self.store.callbacks.get(callback_id)

    async def callback_call_ended(self, callback_id: str, status: str) -> None:
        """The status callback of the customer's leg: a call not answered counts as an attempt."""
        callback = await self.store.callbacks.get(callback_id)
        if callback is None or status not in FINAL_STATUSES:
            return
        if callback.state is CallbackState.CALLING and status != CallStatus.COMPLETED:
            await self._callback_failed(callback_id, f"the customer's phone: {status}")
            await self._hang_up_agent_of(callback)

    async def _hang_up_agent_of(self, callback: Callback) -> None:
        agent_call_sid = await self.store.offers.accepted_call(callback.id)
        if agent_call_sid and self.telephony is not None:
            try:
                await self.telephony.hang_up(agent_call_sid)
            except TelephonyError as exc:
                log.warning("%s: could not hang up the agent's leg: %s", exc.code, exc.detail)

    async def _callback_failed(self, callback_id: str, why: str) -> None:
        """One more failed attempt: retried later with backoff, or `failed` after the last."""
        callback = await self.store.callbacks.get(callback_id)
        if callback is None:
            return
        attempts = callback.attempts + 1
        now = self.clock()
        if attempts >= self.config.callback_attempts:
            state, next_at = CallbackState.FAILED, now
        else:
            state, next_at = CallbackState.RETRY, now + self.config.callback_backoff * 2 ** (attempts - 1)
        if await self.store.callbacks.attempt_failed(callback, state=state, next_attempt_at=next_at, why=why):
            log.warning("callback %s attempt %s failed (%s): %s", callback_id, attempts, state.value, why)

    async def mark_callback_done(self, callback_id: str, username: str) -> None:
        if not await self.store.callbacks.mark_done(callback_id, username):
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such callback")
        await self.audit.record(username, "callback.done", callback_id)

    # --- voicemail ---------------------------------------------------------------------------

    async def start_voicemail(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]
    ) -> str:
        """A caller is about to record: keep who and why now, the recording comes later."""
        return await self.store.voicemails.start(call_sid, caller, reason, context)

    async def voicemail_from_entry(self, entry_id: str) -> str | None:
        entry = await self.store.queue.get(entry_id)
        if entry is None:
            return None
        return await self.store.voicemails.start(entry.call_sid, entry.caller, entry.reason, entry.context)

    async def recording_ready(
        self, vm_id: str, recording_url: str, recording_sid: str, duration: int
    ) -> bool:
        """Twilio's recording status callback: the voicemail becomes a ticket, audio to fetch."""
        return await self.store.voicemails.recorded(vm_id, recording_url, recording_sid, duration)

    async def claim_voicemail(self, stale_after: float = 300.0) -> Voicemail | None:
        """The next recording to fetch and transcribe (one worker at a time per voicemail)."""
        return await self.store.voicemails.claim(stale_after)

    async def voicemail_processed(
        self, vm_id: str, *, audio_file: str, transcript: str, status: TranscriptStatus, problem: str
    ) -> None:
        await self.store.voicemails.processed(
            vm_id, audio_file=audio_file, transcript=transcript, status=status, problem=problem
        )

    async def voicemails(self, include_done: bool = False) -> list[Voicemail]:
        return await self.store.voicemails.listed(include_done=include_done)

    async def voicemail(self, vm_id: str) -> Voicemail | None:
        return await self.store.voicemails.get(vm_id)

    async def mark_voicemail_done(self, vm_id: str, username: str) -> None:
        if not await self.store.voicemails.mark_done(vm_id, username):
            raise DeskError(DeskErrorCode.NOT_FOUND, "there is no such voicemail")
        await self.audit.record(username, "voicemail.done", vm_id)

    # --- the rest of the desk ----------------------------------------------------------------

    async def handed_to_agents(self, call_sid: str) -> bool:
        """Whether this call came to the agents: queued for one, or left a callback or a voicemail.

        Agents may read the transcripts of these calls only (see `ivr.console.agent_desk`).
        """
        return (
            await self.store.queue.for_call(call_sid) is not None
            or await self.store.callbacks.for_call(call_sid) is not None
            or await self.store.voicemails.for_call(call_sid) is not None
        )

    async def transcript(self, call_sid: str) -> list[TranscriptEntry]:
        """What the bot and the caller said before the hand-off (live call or filed record)."""
        session = None
        if self.sessions is not None:
            session = await self.sessions.load(call_sid)
        if session is None and self.calls is not None:
            session = await self.calls.get_call(call_sid)
        return list(session.transcript) if session else []

    async def emergency_closed(self) -> bool:
        return await self.store.switches.is_on(EMERGENCY)

    async def set_emergency_closed(self, on: bool, by: str) -> None:
        """A supervisor closes (or reopens) the line at once; audited in the same batch."""
        await self.sql.atomic(
            [
                self.store.switches.turn(EMERGENCY, on, by),
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
