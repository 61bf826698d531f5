"""The offer life cycle: an agent's phone rings with one caller or callback, and what follows.

    take / dispatch ──► the agent's phone rings with the whisper (offer `ringing`)
         1 pressed ──► accept: the queued caller is redirected into the agent's conference,
                       or the callback's customer is called into it (offer `accepted`)
      other key ──► decline: the subject goes back first, never to this agent again
  no key, no answer ──► missed: the subject goes back first, the agent is set busy (the desk says why)
     a leg ends ──► the agent's: the subject is done and the agent back to what they were (`ended`);
                    the customer's, unanswered: one more failed callback attempt

Every step that spans records is one `atomic` batch guarded by the state it leaves, so two
instances behind a load balancer agree (a subject is offered to one agent at a time, an
agent rings for one offer at a time) and a late or duplicated webhook changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ivr.agents.model import (
    Accepted,
    AcceptedNote,
    AgentStatus,
    Callback,
    CallbackState,
    DeskConfig,
    DeskError,
    DeskErrorCode,
    EntryState,
    Offer,
    OfferKind,
    OfferState,
    QueueEntry,
    conference_name,
)
from ivr.agents.routing import Idle, pick, pick_for
from ivr.agents.store import DeskStores
from ivr.agents.store.encoding import new_id
from ivr.agents.urls import Urls
from ivr.session import FINAL_STATUSES, CallStatus
from ivr.store.accounts import Account, AccountStore
from ivr.store.sql import Conflict, Sql
from ivr.telephony import Telephony, TelephonyError

log = logging.getLogger(__name__)

NO_TELEPHONY = "the line cannot place calls (no Twilio account set)"


async def phone_agent(accounts: AccountStore, username: str) -> Account:
    """The account of an agent who may take calls (enabled, with a phone); `DeskError` if not."""
    account = await accounts.get(username)
    if account is None or account.disabled:
        raise DeskError(DeskErrorCode.NOT_FOUND, f"there is no agent called '{username}'")
    if not account.phone:
        raise DeskError(DeskErrorCode.NO_PHONE, "your account has no phone number to ring")
    return account


class Offers:
    """Makes offers and moves them on; the only code that rings agents and bridges calls."""

    def __init__(
        self,
        sql: Sql,
        store: DeskStores,
        *,
        accounts: AccountStore,
        telephony: Telephony | None,
        urls: Urls,
        config: DeskConfig,
        clock: Callable[[], float],
    ) -> None:
        self.sql = sql
        """Runs the batches that span stores; the stores run everything else."""
        self.store = store
        self.accounts = accounts
        self.telephony = telephony
        """None until the app has opened its Twilio client (and after it closed it)."""
        self.urls = urls
        self.config = config
        self.clock = clock

    # --- ringing an agent --------------------------------------------------------------------

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
        account = await phone_agent(self.accounts, username)
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
        account = await phone_agent(self.accounts, username)
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
            await self._over(offer_id, OfferState.MISSED, agent_status=None)
            if raise_errors:
                raise DeskError(
                    DeskErrorCode.TELEPHONY_FAILED, "your phone could not be rung; try again"
                ) from exc
            return False
        await self.store.offers.ringing_on(offer_id, call_sid)
        log.info("offer %s: ringing %s for %s %s", offer_id, username, kind.value, subject)
        return True

    # --- the agent's answer ------------------------------------------------------------------

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
            await self._over(offer_id, OfferState.MISSED, agent_status=None)
            return Accepted("", AcceptedNote.CANNOT_CONNECT)
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
            await self._over(offer.id, OfferState.ENDED, agent_status=None)
            return Accepted("", AcceptedNote.CALLER_GONE)
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
            await self._over(offer.id, OfferState.ENDED, agent_status=None)
            return Accepted("", AcceptedNote.CALLBACK_NOT_NEEDED)
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
            await self._over(offer.id, OfferState.ENDED, agent_status=None)
            return Accepted("", AcceptedNote.CALLBACK_FAILED)
        await self.sql.atomic(
            [
                self.store.callbacks.calling(callback.id, customer_sid),
                self.store.agent_states.on_call(offer.agent, with_call=customer_sid),
            ]
        )
        return Accepted(conference_name(offer.kind, offer.subject), AcceptedNote.CALLING_CUSTOMER)

    async def decline(self, offer_id: str) -> bool:
        """The agent pressed another key: the caller goes back to the head of the queue, and is
        not offered to this agent again; the agent goes back to what they were."""
        return await self._over(offer_id, OfferState.DECLINED, agent_status=None)

    async def missed(self, offer_id: str) -> bool:
        """Not answered, busy, failed, or no key in time: the caller goes back to the head of the
        queue, and the agent is set busy (they are evidently not at their phone, so routing
        stops ringing them) with the time noted: the desk tells them why, and they stay signed
        in to take callers themselves or choose Available again."""
        return await self._over(offer_id, OfferState.MISSED, agent_status=AgentStatus.BUSY, missed=True)

    async def withdraw(self, offer_id: str) -> bool:
        """The offer's caller or callback is not on record any more (the whisper found nothing to
        say): end the offer and free the agent, so they do not ring on for nobody."""
        return await self._over(offer_id, OfferState.ENDED, agent_status=None)

    async def _over(
        self, offer_id: str, state: OfferState, *, agent_status: AgentStatus | None, missed: bool = False
    ) -> bool:
        """Settle the offer, free the agent (to `agent_status`, or back to what they were when it
        rang if None) and, unless it ended after a call, put its subject back."""
        offer = await self.store.offers.get(offer_id)
        if offer is None:
            return False
        ended = state is OfferState.ENDED
        statements = [
            self.store.offers.settle(offer_id, state),
            self.store.agent_states.release(
                offer.agent, offer_id, agent_status, idle_from_now=ended, missed=missed
            ),
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

    # --- the legs of a call ------------------------------------------------------------------

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
            # Back to what they were (available or busy), idle from now (routing prefers whoever
            # has waited longest).
            await self._over(offer_id, OfferState.ENDED, agent_status=None)
        await self.dispatch()

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
