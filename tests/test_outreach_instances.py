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
from ivr.outreach.store import OutreachStore
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.store.backends import Stores, build_stores
from tests.caller import PUBLIC_URL, TOKEN
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
