"""The agent desk service: the one facade the console and the webhooks use.

Our database is the source of truth; Twilio's `<Enqueue>` only holds the caller and plays
what `/voice/queue/wait` says. The records live in one store per kind (`ivr.agents.store`);
the offer life cycle (ringing an agent, accept, decline, missed, call endings) is
`ivr.agents.offers`. What is left here spans them: agents with their accounts, the queue's
estimates and exits, tickets marked done, the emergency switch, and the snapshot every
console shows. Single reads and writes go to `desk.store`, offers to `desk.offers`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

from ivr.agents.model import (
    SETTABLE,
    AgentState,
    AgentStatus,
    Callback,
    DeskConfig,
    DeskError,
    DeskErrorCode,
    DeskSnapshot,
    EntryState,
    QueueEntry,
    WaitInfo,
)
from ivr.agents.offers import Offers, phone_agent
from ivr.agents.store import DeskStores
from ivr.agents.store.encoding import new_id
from ivr.agents.store.switches import EMERGENCY
from ivr.agents.urls import Urls
from ivr.events import EventType
from ivr.logs import mask_phone
from ivr.session import TranscriptEntry
from ivr.store.accounts import AccountStore
from ivr.store.audit import AuditLog
from ivr.store.base import CallLog, SessionStore
from ivr.store.event_outbox import event
from ivr.store.sql import Conflict, Sql, Statement
from ivr.telephony import Telephony

log = logging.getLogger(__name__)


class AgentDesk:
    def __init__(
        self,
        sql: Sql,
        *,
        accounts: AccountStore,
        audit: AuditLog,
        telephony: Telephony | None,
        urls: Urls,
        config: DeskConfig | None = None,
        sessions: SessionStore | None = None,
        calls: CallLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        config = config or DeskConfig()
        self.sql = sql
        """Runs the batches that span stores; the stores below run everything else."""
        self.store = DeskStores.over(sql, clock=clock)
        self.accounts = accounts
        self.audit = audit
        self.urls = urls
        self.config = config
        self.sessions = sessions
        self.calls = calls
        self.clock = clock
        self.offers = Offers(
            sql, self.store, accounts=accounts, telephony=telephony, urls=urls, config=config, clock=clock
        )

    @property
    def telephony(self) -> Telephony | None:
        """The line's Twilio client: the offers ring and bridge with it, the voicemail worker
        fetches recordings with it. None until the app has opened it (and after it closed it)."""
        return self.offers.telephony

    @telephony.setter
    def telephony(self, telephony: Telephony | None) -> None:
        self.offers.telephony = telephony

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
                    missed_at=state.missed_at if state else 0.0,
                )
            )
        return out

    async def set_status(self, username: str, status: AgentStatus) -> AgentState:
        """An agent sets themselves available, busy or offline (not while ringing or on a call:
        those end by themselves)."""
        if status not in SETTABLE:
            raise DeskError(DeskErrorCode.BAD_STATUS, f"'{status}' is set by the desk, not by agents")
        await phone_agent(self.accounts, username)
        current = await self.store.agent_states.get(username)
        was = current.status if current else AgentStatus.OFFLINE
        if not await self.store.agent_states.set(username, status):
            raise DeskError(
                DeskErrorCode.AGENT_NOT_FREE, "you are on a call (or being rung); that ends by itself"
            )
        if was != status:
            await self.audit.record(username, "agent.status", username, f"{was} -> {status}")
        if status is AgentStatus.AVAILABLE:
            await self.offers.dispatch()
        return next(a for a in await self.agents() if a.username == username)

    # --- the queue ---------------------------------------------------------------------------

    async def enqueue(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str]
    ) -> QueueEntry:
        """Put a caller in the queue (a duplicate delivery finds the entry already there)."""
        skill = context.get("skill", "") or context.get("language", "") or self.config.language
        entry = await self.store.queue.add(call_sid, caller, reason, context, skill)
        log.info("call %s from %s queued (%s)", call_sid, mask_phone(caller), reason)
        return entry

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
        asked = event(
            EventType.CALLBACK_REQUESTED,
            callback_id,
            {
                "callback_id": callback_id,
                "call_sid": entry.call_sid,
                "number": entry.caller,
                "reason": entry.reason,
                "context": dict(entry.context),
                "campaign": None,
            },
            self.clock(),
        )
        try:
            await self.sql.atomic(
                [self.store.queue.to_callback(entry_id), self.store.callbacks.add(callback_id, entry), asked]
            )
        except Conflict:
            return await self.store.callbacks.for_call(entry.call_sid)
        log.info("call %s asked to be called back", entry.call_sid)
        return await self.store.callbacks.get(callback_id)

    async def left_queue(self, entry_id: str, result: str) -> QueueEntry | None:
        """Twilio's `<Enqueue action>`: a caller still waiting or offered has hung up (or been
        dropped by Twilio); one who chose a callback, voicemail or an agent keeps that state."""
        if result in ("hangup", "error", "system-error", "queue-full"):
            await self.store.queue.abandon(entry_id, only_live=True)
        return await self.store.queue.get(entry_id)

    async def call_ended(self, call_sid: str) -> None:
        """The line's status callback says a call is over: a caller still waiting (or being
        offered) in our queue has gone, whatever the queue's own webhook said or did not say
        (a terminal phone, a lost `<Enqueue action>`), so the desk never shows a ghost."""
        entry = await self.store.queue.for_call(call_sid)
        if entry is not None and entry.state in (EntryState.WAITING, EntryState.OFFERED):
            await self.store.queue.abandon(entry.id, only_live=True)

    # --- tickets -----------------------------------------------------------------------------

    async def mark_voicemail_done(self, vm_id: str, username: str) -> None:
        """An agent has dealt with a voicemail: off the open list, and audited as theirs."""
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
            queue=await self.store.queue.live(),
            callbacks=await self.store.callbacks.listed(include_done=False),
            voicemails=await self.store.voicemails.listed(include_done=False),
            emergency_closed=await self.emergency_closed(),
        )
