"""The agent desk's stores, one contract each, on SQLite and PostgreSQL alike (the `sql` fixture).

What is asserted is what a caller or an agent would notice: where a caller stands after
someone ahead leaves, that a caller put back goes first, that an offer is taken once, that a
callback comes back when it is due and not before, that a voicemail is worked on by one
worker. (The desk service on top of them: tests/test_agent_desk.py and test_agents_calls.py.)
"""

from __future__ import annotations

import pytest

from ivr.agents.model import (
    AgentStatus,
    CallbackState,
    EntryState,
    OfferKind,
    OfferState,
    QueueEntry,
    TranscriptStatus,
)
from ivr.agents.routing import order
from ivr.agents.store import DeskStores
from ivr.agents.store.switches import EMERGENCY
from ivr.store.sql import Conflict, Sql
from tests.test_agent_desk import CONTEXT, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(sql: Sql, clock: Clock) -> DeskStores:
    return DeskStores.over(sql, clock=clock)


async def _queue(stores: DeskStores, clock: Clock, *call_sids: str) -> list[QueueEntry]:
    """Queue calls one second apart, in this order."""
    entries = []
    for call_sid in call_sids:
        entries.append(await stores.queue.add(call_sid, "+15550100001", "caller_asked", CONTEXT, "en"))
        clock.now += 1
    return entries


async def _positions(stores: DeskStores, *entries: QueueEntry) -> list[int | None]:
    found = [await stores.queue.get(e.id) for e in entries]
    return [e.position if e else None for e in found]


# --- the queue ---------------------------------------------------------------------------------


async def test_a_caller_moves_up_when_someone_ahead_leaves(stores: DeskStores, clock: Clock) -> None:
    first, second, third = await _queue(stores, clock, "CA1", "CA2", "CA3")
    assert await _positions(stores, first, second, third) == [1, 2, 3]
    assert await stores.queue.abandon(first.id, only_live=True)
    assert await _positions(stores, first, second, third) == [None, 1, 2]
    assert await stores.queue.leave(second.id, EntryState.VOICEMAIL)
    assert not await stores.queue.leave(second.id, EntryState.VOICEMAIL), "only a waiting caller leaves"
    assert await _positions(stores, first, second, third) == [None, None, 1]
    assert [(e.call_sid, e.position) for e in await stores.queue.live()] == [("CA3", 1)]
    gone = await stores.queue.for_call("CA1")
    assert gone is not None and gone.state is EntryState.ABANDONED


async def test_a_caller_being_offered_keeps_their_place(stores: DeskStores, sql: Sql, clock: Clock) -> None:
    first, second = await _queue(stores, clock, "CA1", "CA2")
    await sql.atomic([stores.queue.offer(first.id, "ann")])
    assert await _positions(stores, first, second) == [1, 2]
    assert [w.id for w in await stores.queue.waiting()] == [second.id], "routing sees only who waits"
    with pytest.raises(Conflict):
        await sql.atomic([stores.queue.offer(first.id, "bob")])
    offered = await stores.queue.get(first.id)
    assert offered is not None and (offered.state, offered.offered_to) == (EntryState.OFFERED, "ann")


async def test_a_caller_put_back_after_a_declined_offer_goes_first_and_skips_that_agent(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    first, second, third = await _queue(stores, clock, "CA1", "CA2", "CA3")
    await sql.atomic([stores.queue.offer(third.id, "ann")])
    await sql.atomic([await stores.queue.put_back(third.id, declined_by="ann")])
    assert await _positions(stores, first, second, third) == [2, 3, 1]
    (head, *_) = await stores.queue.waiting()
    assert (head.id, head.declined_by) == (third.id, frozenset({"ann"}))
    await sql.atomic([stores.queue.offer(third.id, "bob")])
    await sql.atomic([await stores.queue.put_back(third.id, declined_by=None)])
    again = await stores.queue.get(third.id)
    assert again is not None and again.declined_by == ("ann",), "a missed offer adds nobody"


async def test_queue_order_in_sql_is_routings_order_even_on_ties(stores: DeskStores, clock: Clock) -> None:
    """Positions the caller hears and the order routing offers in must agree."""
    for n in range(6):
        await stores.queue.add(f"CA{n}", "+15550100001", "caller_asked", {}, "")  # same second
    live = await stores.queue.live()
    waiting = await stores.queue.waiting()
    assert [w.id for w in waiting] == [w.id for w in order(waiting)] == [e.id for e in live]
    assert [e.position for e in live] == [1, 2, 3, 4, 5, 6]
    assert [(await stores.queue.get(e.id)).position for e in live] == [1, 2, 3, 4, 5, 6]  # type: ignore[union-attr]


async def test_a_duplicate_delivery_finds_the_same_entry(stores: DeskStores, clock: Clock) -> None:
    (first,) = await _queue(stores, clock, "CA1")
    again = await stores.queue.add("CA1", "+15550100001", "caller_asked", {"other": "context"}, "de")
    assert again.id == first.id and dict(again.context) == CONTEXT
    assert len(await stores.queue.live()) == 1


async def test_the_pace_reads_only_the_latest_bridged_callers(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    start = clock.now
    old, recent, newest, waiting = await _queue(stores, clock, "CA1", "CA2", "CA3", "CA4")
    for entry, bridged_at in ((old, 50), (recent, 100), (newest, 200)):
        clock.now = start + bridged_at
        await sql.atomic([stores.queue.offer(entry.id, "ann"), stores.queue.bridge(entry.id, "ann")])
    assert await stores.queue.recent_waits(since=start, limit=2) == [198.0, 99.0], "newest first"
    assert await stores.queue.recent_waits(since=start + 150, limit=20) == [198.0]
    assert await stores.queue.finish(newest.id)
    assert not await stores.queue.finish(waiting.id), "only a bridged call finishes"


# --- offers ------------------------------------------------------------------------------------


async def test_a_taken_offer_cannot_be_taken_twice(stores: DeskStores, sql: Sql) -> None:
    await sql.atomic([stores.offers.add("of1", OfferKind.ENTRY, "entry1", "ann")])
    offer = await stores.offers.get("of1")
    assert offer is not None and (offer.state, offer.agent) == (OfferState.RINGING, "ann")
    await stores.offers.ringing_on("of1", "CAagent")
    assert await stores.offers.accept("of1")
    assert not await stores.offers.accept("of1"), "a second press of 1 (or another instance) loses"
    assert await stores.offers.accepted_call("entry1") == "CAagent"
    await sql.atomic([stores.offers.settle("of1", OfferState.ENDED)])
    with pytest.raises(Conflict):
        await sql.atomic([stores.offers.settle("of1", OfferState.MISSED)])  # a late status callback
    ended = await stores.offers.get("of1")
    assert ended is not None and ended.state is OfferState.ENDED
    assert await stores.offers.accepted_call("entry1") == ""
    assert await stores.offers.get("nope") is None


# --- callbacks ---------------------------------------------------------------------------------


async def _callbacks(stores: DeskStores, sql: Sql, clock: Clock, *call_sids: str) -> list[str]:
    ids = []
    for n, entry in enumerate(await _queue(stores, clock, *call_sids)):
        ids.append(f"cb{n}")
        await sql.atomic([stores.queue.to_callback(entry.id), stores.callbacks.add(ids[-1], entry)])
    return ids


async def _fail(stores: DeskStores, callback_id: str, state: CallbackState, next_at: float) -> None:
    callback = await stores.callbacks.get(callback_id)
    assert callback is not None
    assert await stores.callbacks.attempt_failed(callback, state=state, next_attempt_at=next_at, why="busy")


async def test_a_due_callback_is_offered_and_a_future_one_is_not(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    soon, later, fresh = await _callbacks(stores, sql, clock, "CA1", "CA2", "CA3")
    await _fail(stores, soon, CallbackState.RETRY, clock.now + 60)
    await _fail(stores, later, CallbackState.RETRY, clock.now + 600)
    assert await stores.callbacks.due() == [], "nothing is due yet (a pending one is taken by hand)"
    clock.now += 60
    assert [w.id for w in await stores.callbacks.due()] == [soon]
    clock.now += 600
    due = await stores.callbacks.due()
    assert [w.id for w in due] == [soon, later]
    assert due[0].topic == "repairs", "routing prefers agents who know what the caller called about"
    await sql.atomic([stores.callbacks.offer(soon, "ann")])
    assert [w.id for w in await stores.callbacks.due()] == [later], "an offered callback is not due"
    assert (await stores.callbacks.get(fresh)).state is CallbackState.PENDING  # type: ignore[union-attr]


async def test_callbacks_listed_are_the_open_ones_oldest_first(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    first, second, third = await _callbacks(stores, sql, clock, "CA1", "CA2", "CA3")
    await _fail(stores, third, CallbackState.FAILED, clock.now)
    assert await stores.callbacks.mark_done(second, "ann")
    assert not await stores.callbacks.mark_done("nope", "ann")
    listed = await stores.callbacks.listed(include_done=False)
    assert [c.id for c in listed] == [first, third], "a failed callback stays listed for a person"
    everything = await stores.callbacks.listed(include_done=True)
    assert [(c.id, c.done_by) for c in everything] == [(first, ""), (second, "ann"), (third, "")]
    by_call = await stores.callbacks.for_call("CA1")
    assert by_call is not None and (by_call.id, dict(by_call.context)) == (first, CONTEXT)


async def test_a_callback_is_offered_once_and_put_back_as_it_was(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    never_tried, tried = await _callbacks(stores, sql, clock, "CA1", "CA2")
    await _fail(stores, tried, CallbackState.RETRY, clock.now)
    for callback_id in (never_tried, tried):
        await sql.atomic([stores.callbacks.offer(callback_id, "ann")])
        with pytest.raises(Conflict):
            await sql.atomic([stores.callbacks.offer(callback_id, "bob")])
        await sql.atomic([stores.callbacks.put_back(callback_id)])
    states = [(await stores.callbacks.get(i)).state for i in (never_tried, tried)]  # type: ignore[union-attr]
    assert states == [CallbackState.PENDING, CallbackState.RETRY]


async def test_a_callback_call_connects_once_and_a_failed_attempt_counts_once(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    (callback_id,) = await _callbacks(stores, sql, clock, "CA1")
    assert not await stores.callbacks.answered(callback_id), "nobody was being called"
    await sql.atomic(
        [stores.callbacks.offer(callback_id, "ann"), stores.callbacks.calling(callback_id, "CAc")]
    )
    read_twice = await stores.callbacks.get(callback_id)
    assert read_twice is not None
    assert await stores.callbacks.attempt_failed(
        read_twice, state=CallbackState.RETRY, next_attempt_at=clock.now + 300, why="no-answer"
    )
    assert not await stores.callbacks.attempt_failed(
        read_twice, state=CallbackState.RETRY, next_attempt_at=clock.now + 300, why="no-answer"
    ), "a duplicated status callback does not count a second attempt"
    retry = await stores.callbacks.get(callback_id)
    assert retry is not None and (retry.attempts, retry.state, retry.agent) == (1, CallbackState.RETRY, "")
    await sql.atomic(
        [stores.callbacks.offer(callback_id, "ann"), stores.callbacks.calling(callback_id, "CAd")]
    )
    assert await stores.callbacks.answered(callback_id)
    assert await stores.callbacks.finish(callback_id)
    assert not await stores.callbacks.finish(callback_id)


# --- voicemails --------------------------------------------------------------------------------


async def test_a_voicemail_is_transcribed_by_one_worker_and_reclaimed_when_one_dies(
    stores: DeskStores, clock: Clock
) -> None:
    vm = await stores.voicemails.start("CA1", "+15550100001", "after_hours", CONTEXT)
    assert await stores.voicemails.claim(stale_after=300) is None, "no recording yet"
    left = await stores.voicemails.for_call("CA1")
    assert left is not None and (left.id, dict(left.context)) == (vm, CONTEXT)
    assert await stores.voicemails.for_call("CA2") is None
    assert await stores.voicemails.listed(include_done=False) == []
    assert await stores.voicemails.recorded(vm, "https://api.twilio.com/rec/RE1", "RE1", 12)
    assert not await stores.voicemails.recorded(vm, "https://api.twilio.com/rec/RE1", "RE1", 12)
    claimed = await stores.voicemails.claim(stale_after=300)
    assert claimed is not None and claimed.transcript_status is TranscriptStatus.WORKING
    assert await stores.voicemails.claim(stale_after=300) is None
    clock.now += 301
    assert await stores.voicemails.claim(stale_after=300) is not None, "a dead worker's claim expires"
    await stores.voicemails.processed(
        vm, audio_file="a.wav", transcript="", status=TranscriptStatus.NO_MODEL, problem="no model"
    )
    clock.now += 1000
    assert await stores.voicemails.claim(stale_after=300) is None, "a processed voicemail stays done"


async def test_voicemail_tickets_oldest_first_and_done_ones_on_request(
    stores: DeskStores, clock: Clock
) -> None:
    still_recording = await stores.voicemails.start("CA0", "+15550100001", "after_hours", {})
    ids = []
    for n in (1, 2):
        clock.now += 1
        ids.append(await stores.voicemails.start(f"CA{n}", "+15550100001", "after_hours", CONTEXT))
        await stores.voicemails.recorded(ids[-1], f"https://api.twilio.com/rec/RE{n}", f"RE{n}", n)
    assert not await stores.voicemails.mark_done(still_recording, "ann"), "not a ticket yet"
    assert await stores.voicemails.mark_done(ids[0], "ann")
    assert [v.id for v in await stores.voicemails.listed(include_done=False)] == [ids[1]]
    listed = await stores.voicemails.listed(include_done=True)
    assert [(v.id, v.done, v.done_by) for v in listed] == [(ids[0], True, "ann"), (ids[1], False, "")]


# --- agents' statuses and the line's switches --------------------------------------------------


async def test_an_agent_rings_for_one_offer_at_a_time_and_is_freed_only_from_it(
    stores: DeskStores, sql: Sql, clock: Clock
) -> None:
    assert await stores.agent_states.set("ann", AgentStatus.AVAILABLE)
    clock.now += 10
    assert await stores.agent_states.set("bob", AgentStatus.AVAILABLE)
    assert await stores.agent_states.set("cid", AgentStatus.BUSY)
    assert [p.username for p in await stores.agent_states.available()] == ["ann", "bob"]
    await sql.atomic([stores.agent_states.ring("ann", "of1", "CA1")])
    with pytest.raises(Conflict):
        await sql.atomic([stores.agent_states.ring("ann", "of2", "CA2")])
    assert not await stores.agent_states.set("ann", AgentStatus.OFFLINE), "ringing ends by itself"
    ann = await stores.agent_states.get("ann")
    assert ann is not None and (ann.status, ann.offer_id, ann.on_call_with) == (
        AgentStatus.RINGING,
        "of1",
        "CA1",
    )
    assert [p.username for p in await stores.agent_states.available()] == ["bob"]

    await sql.atomic([stores.agent_states.release("ann", "of-old", AgentStatus.OFFLINE, idle_from_now=False)])
    assert (await stores.agent_states.get("ann")).status is AgentStatus.RINGING  # type: ignore[union-attr]
    await sql.atomic([stores.agent_states.on_call("ann", with_call="CAcustomer")])
    clock.now += 100
    await sql.atomic([stores.agent_states.release("ann", "of1", AgentStatus.AVAILABLE, idle_from_now=True)])
    freed = (await stores.agent_states.all())["ann"]
    assert (freed.status, freed.idle_since, freed.offer_id) == (AgentStatus.AVAILABLE, clock.now, "")
    assert [p.username for p in await stores.agent_states.available()] == ["bob", "ann"]


async def test_staying_available_keeps_the_idle_time(stores: DeskStores, clock: Clock) -> None:
    await stores.agent_states.set("ann", AgentStatus.AVAILABLE)
    since = clock.now
    clock.now += 60
    await stores.agent_states.set("ann", AgentStatus.AVAILABLE)
    assert (await stores.agent_states.get("ann")).idle_since == since  # type: ignore[union-attr]
    await stores.agent_states.set("ann", AgentStatus.BUSY)
    await stores.agent_states.set("ann", AgentStatus.AVAILABLE)
    assert (await stores.agent_states.get("ann")).idle_since == clock.now  # type: ignore[union-attr]


async def test_a_switch_is_off_until_turned_on(stores: DeskStores, sql: Sql) -> None:
    assert not await stores.switches.is_on(EMERGENCY)
    await sql.atomic([stores.switches.turn(EMERGENCY, True, "root")])
    assert await stores.switches.is_on(EMERGENCY)
    await sql.atomic([stores.switches.turn(EMERGENCY, False, "root")])
    assert not await stores.switches.is_on(EMERGENCY)


async def test_an_agent_goes_back_to_what_they_were_when_the_offer_rang(stores: DeskStores, sql: Sql) -> None:
    """Busy agents who take a caller themselves are busy again after the call, not offered the
    next caller at once; an agent who missed an offer is set busy with the time noted."""
    assert await stores.agent_states.set("ann", AgentStatus.BUSY)
    assert await stores.agent_states.set("bob", AgentStatus.AVAILABLE)
    for name, offer in (("ann", "of1"), ("bob", "of2")):
        await sql.atomic([stores.agent_states.ring(name, offer, "CA" + offer)])
        await sql.atomic([stores.agent_states.on_call(name)])
    await sql.atomic([stores.agent_states.release("ann", "of1", None, idle_from_now=True)])
    await sql.atomic([stores.agent_states.release("bob", "of2", None, idle_from_now=True)])
    states = await stores.agent_states.all()
    assert (states["ann"].status, states["bob"].status) == (AgentStatus.BUSY, AgentStatus.AVAILABLE)

    await sql.atomic([stores.agent_states.ring("bob", "of3", "CA3")])
    await sql.atomic(
        [stores.agent_states.release("bob", "of3", AgentStatus.BUSY, idle_from_now=False, missed=True)]
    )
    bob = await stores.agent_states.get("bob")
    assert bob is not None and bob.status is AgentStatus.BUSY and bob.missed_at > 0
    assert await stores.agent_states.set("bob", AgentStatus.AVAILABLE)
    assert (await stores.agent_states.get("bob")).missed_at == 0  # type: ignore[union-attr]
