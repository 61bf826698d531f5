"""The agent desk's store on SQLite and PostgreSQL alike: queue order, agents, callbacks,
voicemail tickets, the emergency switch. (Offers that ring phones: tests/test_agents_calls.py.)"""

from __future__ import annotations

import pytest

from ivr.agents.desk import AgentDesk
from ivr.agents.model import (
    AgentStatus,
    CallbackState,
    DeskError,
    DeskErrorCode,
    EntryState,
    TranscriptStatus,
)
from ivr.agents.urls import Urls
from ivr.store.accounts import AccountStore, Role
from ivr.store.audit import AuditLog
from ivr.store.sql import Sql
from ivr.testing.caller import PUBLIC_URL

CONTEXT = {"ticket_number": "3141", "repair_status": "waiting_for_parts", "verified": "no"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def desk(sql: Sql, clock: Clock) -> AgentDesk:
    accounts = AccountStore(sql, clock=clock)
    await accounts.create(
        "ann", "correct horse battery", Role.AGENT, display_name="Ann", phone="+15550107001"
    )
    await accounts.create("bob", "correct horse battery", Role.AGENT, phone="+15550107002", skills=["de"])
    await accounts.create("root", "correct horse battery", Role.ADMIN)
    return AgentDesk(
        sql,
        accounts=accounts,
        audit=AuditLog(sql, clock=clock),
        telephony=None,
        urls=Urls(PUBLIC_URL),
        clock=clock,
    )


async def test_the_queue_keeps_the_exact_context_in_arrival_order(desk: AgentDesk, clock: Clock) -> None:
    first = await desk.enqueue("CA1", "+15550100001", "caller_asked", CONTEXT)
    clock.now += 30
    await desk.enqueue("CA2", "+15550100002", "self_service_failed", {"skill": "de"})
    again = await desk.enqueue("CA1", "+15550100001", "caller_asked", CONTEXT)  # a duplicate delivery
    assert again.id == first.id
    queue = await desk.store.queue.live()
    assert [(e.call_sid, e.position, e.state) for e in queue] == [
        ("CA1", 1, EntryState.WAITING),
        ("CA2", 2, EntryState.WAITING),
    ]
    assert dict(queue[0].context) == CONTEXT
    assert queue[0].waiting_seconds == 30
    assert queue[1].skill == "de"


async def test_agents_set_their_status_and_only_agents_with_phones_are_listed(
    desk: AgentDesk, clock: Clock
) -> None:
    assert [a.username for a in await desk.agents()] == ["ann", "bob"]
    assert all(a.status is AgentStatus.OFFLINE for a in await desk.agents())
    ann = await desk.set_status("ann", AgentStatus.AVAILABLE)
    assert (ann.status, ann.idle_since) == (AgentStatus.AVAILABLE, clock.now)
    clock.now += 60
    again = await desk.set_status("ann", AgentStatus.AVAILABLE)
    assert again.idle_since == clock.now - 60, "staying available keeps the idle time"
    with pytest.raises(DeskError) as refused:
        await desk.set_status("ann", AgentStatus.ON_CALL)
    assert refused.value.code is DeskErrorCode.BAD_STATUS
    with pytest.raises(DeskError) as no_phone:
        await desk.set_status("root", AgentStatus.AVAILABLE)
    assert no_phone.value.code is DeskErrorCode.NO_PHONE
    assert [e.action for e in await desk.audit.recent()] == ["agent.status"]


async def test_a_callback_request_keeps_number_reason_and_context(desk: AgentDesk) -> None:
    entry = await desk.enqueue("CA1", "+15550100001", "caller_asked", CONTEXT)
    callback = await desk.request_callback(entry.id)
    assert callback is not None
    assert (callback.number, callback.reason, dict(callback.context)) == (
        "+15550100001",
        "caller_asked",
        CONTEXT,
    )
    assert callback.state is CallbackState.PENDING
    assert await desk.store.queue.live() == []
    assert [c.id for c in await desk.store.callbacks.listed(include_done=False)] == [callback.id]
    assert (await desk.request_callback(entry.id)) == callback, "pressing 1 twice makes one callback"


async def test_a_voicemail_is_a_ticket_once_recorded_and_can_be_marked_done(desk: AgentDesk) -> None:
    tickets = desk.store.voicemails
    vm_id = await tickets.start("CA9", "+15550100001", "after_hours", CONTEXT)
    assert await tickets.listed(include_done=False) == [], "nothing to work on until there is a recording"
    assert await tickets.recorded(vm_id, "https://api.twilio.com/rec/RE1", "RE1", 12)
    claimed = await tickets.claim(stale_after=300)
    assert claimed is not None and claimed.transcript_status is TranscriptStatus.WORKING
    assert await tickets.claim(stale_after=300) is None, "one worker per recording"
    await tickets.processed(
        vm_id, audio_file="a.wav", transcript="hello", status=TranscriptStatus.DONE, problem=""
    )
    (ticket,) = await tickets.listed(include_done=False)
    assert (ticket.transcript, dict(ticket.context), ticket.duration) == ("hello", CONTEXT, 12)
    await desk.mark_voicemail_done(vm_id, "ann")
    assert await tickets.listed(include_done=False) == []
    assert [v.done_by for v in await tickets.listed(include_done=True)] == ["ann"]


async def test_the_emergency_switch_is_stored_and_audited(desk: AgentDesk, clock: Clock) -> None:
    assert not await desk.emergency_closed()
    await desk.set_emergency_closed(True, "root")
    clock.now += 1
    assert await desk.emergency_closed()
    snapshot = await desk.snapshot()
    assert snapshot.emergency_closed
    await desk.set_emergency_closed(False, "root")
    assert not await desk.emergency_closed()
    assert [(e.actor, e.detail) for e in await desk.audit.recent()] == [("root", "off"), ("root", "on")]
