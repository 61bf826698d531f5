"""Two instances running the same campaign on one database place each call once (SQLite and
PostgreSQL), and the caps hold across them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.outreach.campaigns import load_campaigns
from ivr.outreach.dialer import TwilioDialer
from ivr.outreach.service import Outreach, OutreachConfig
from ivr.outreach.store import Event, OutreachStore, TargetState
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.store.backends import Stores, build_stores
from ivr.testing.caller import PUBLIC_URL, TOKEN
from tests.outreach_line import HEADER, NOON_IN_NEW_YORK, TODAY, Clock, import_customers

CUSTOMERS = 12
CAMPAIGN = """campaign: busy-day
trigger: order_delivered
flow: followup
delay_days: 1
window: {from: "09:00", to: "20:00"}
attempts: 2
spacing_hours: 1
daily_cap: 100
concurrent_cap: %d
"""


@pytest.fixture
async def twilio() -> AsyncIterator[OutboundAccount]:
    async with running_outbound_account(TOKEN) as account:
        yield account


def orders() -> str:
    rows = [
        f"{6000 + i},+1212555{1000 + i},Customer {i},10001,delivered,UPS,1Z{i},2026-11-15,2026-11-16,"
        "2026-11-21,yes,America/New_York"
        for i in range(CUSTOMERS)
    ]
    return "\n".join([f"{HEADER},contact_ok,time_zone", *rows]) + "\n"


async def instance(
    database_url: str, tmp_path: Path, twilio: OutboundAccount, clock: Clock
) -> tuple[Outreach, Stores]:
    """What one `ivr serve` (or `ivr campaigns run-once`) has: its own connections and Twilio client."""
    campaigns = load_campaigns(tmp_path / "campaigns", ["followup"])
    stores = build_stores(database_url)
    await stores.open()
    outreach = Outreach(
        stores.sql, campaigns, OutreachConfig(PUBLIC_URL, LINE_NUMBER), clock=clock, today=lambda: TODAY
    )
    outreach.dialer = TwilioDialer(
        account_sid=ACCOUNT_SID, auth_token=TOKEN, from_number=LINE_NUMBER, api_base=twilio.api_base
    )
    return outreach, stores


@pytest.mark.parametrize("cap", [50, 5])
async def test_two_instances_place_each_call_once(
    database_url: str, tmp_path: Path, twilio: OutboundAccount, cap: int
) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "busy-day.yaml").write_text(CAMPAIGN % cap)
    await import_customers(database_url, orders())
    clock = Clock(NOON_IN_NEW_YORK)
    (first, first_stores), (second, second_stores) = [
        await instance(database_url, tmp_path, twilio, clock) for _ in range(2)
    ]
    await first.store.set_enabled("busy-day", True, "test", clock())
    try:
        rounds = await asyncio.gather(*(o.run_round("busy-day") for o in (first, second, first, second)))
        placed = [sid for r in rounds for sid in r.placed]
        numbers = [r.get("To") for r in twilio.requests_to("/Calls.json")]
        assert len(numbers) == len(set(numbers)) == len(placed) == min(cap, CUSTOMERS)
        counts = await OutreachStore(first.sql).counts("busy-day")
        assert counts["calling"] == min(cap, CUSTOMERS)
        assert counts["waiting"] == CUSTOMERS - min(cap, CUSTOMERS)
    finally:
        for outreach, stores in ((first, first_stores), (second, second_stores)):
            assert outreach.dialer is not None
            await outreach.dialer.aclose()
            await stores.close()


def _event(key: str, number: str) -> Event:
    return Event(key, number, "America/New_York", NOON_IN_NEW_YORK - 3600, {})


async def test_the_claim_skips_opted_out_numbers_and_numbers_already_in_a_call(database_url: str) -> None:
    """What the claim itself must check, whatever the round saw before it: an opt-out that
    landed after the tidy-up (here with another instance's new event for that number), and a
    customer with events in two campaigns, and two in one, claimed at the same moment."""
    stores = build_stores(database_url)
    await stores.open()
    try:
        store, now = OutreachStore(stores.sql), NOON_IN_NEW_YORK
        await store.known(["deliveries", "warranties"])
        for name in ("deliveries", "warranties"):
            await store.set_enabled(name, True, "test", now)
        await store.opt_out("+12125551003", "cli:test", now)  # after this round's tidy-up
        await store.enqueue("deliveries", [_event("order_delivered:6003", "+12125551003")], now)
        await store.enqueue(
            "deliveries",
            [_event("order_delivered:6001", "+12125551001"), _event("order_delivered:6011", "+12125551001")],
            now,
        )
        await store.enqueue("warranties", [_event("warranty_expiring:6001", "+12125551001")], now)
        due = {name: [t.id for t in await store.due(name, now)] for name in ("deliveries", "warranties")}
        assert [len(ids) for ids in due.values()] == [3, 1]
        claims = await asyncio.gather(
            *(store.claim(name, ids, now, concurrent_cap=10, daily_cap=10) for name, ids in due.items())
        )
        called = [target.number for claimed in claims for target in claimed]
        assert called == ["+12125551001"], "one call to the customer with three events, none to the opt-out"
        # Once that call is over, the customer's next event may be called.
        [[target], _] = claims if claims[0] else claims[::-1]
        assert await store.picked_up(target.id, TargetState.ANSWERED, "human", now)
        await store.call_ended(target.id, now)
        later = [
            t.number
            for name, ids in due.items()
            for t in await store.claim(name, ids, now + 60, concurrent_cap=10, daily_cap=10)
        ]
        assert later == ["+12125551001"]
    finally:
        await stores.close()
