"""The console's campaigns page: supervisors turn campaigns on and off (signed in, CSRF, audited)
and see progress, scores and unhappy customers; agents may not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ivr.outreach.web import OUTREACH
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.store.accounts import Role
from ivr.store.audit import AuditLog
from ivr.testing.caller import PUBLIC_URL, TOKEN
from ivr.web.keys import STORES
from tests.console import add_account, console_client, sign_in
from tests.outreach_line import ORDERS, Clock, import_customers, outreach_app, outreach_settings, press

CAMPAIGN = "delivery-followup"


@pytest.fixture
async def twilio() -> AsyncIterator[OutboundAccount]:
    async with running_outbound_account(TOKEN) as account:
        yield account


async def test_a_supervisor_enables_a_campaign_and_sees_its_unhappy_customer(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    settings = outreach_settings(tmp_path, twilio)
    await import_customers(settings.database_url)
    clock = Clock()
    client = await console_client(aiohttp_client, outreach_app(settings, clock))
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    app = client.app
    await add_account(app, "sue", Role.SUPERVISOR)
    await add_account(app, "alex", Role.AGENT)

    anonymous = await client.get("/console/campaigns", allow_redirects=False)
    assert anonymous.status == 303  # to sign in
    assert await sign_in(client, "alex")
    assert (await client.get("/console/campaigns")).status == 403
    await client.post("/console/logout", data={"csrf_token": await sign_in(client, "alex")})

    csrf = await sign_in(client, "sue")
    page = await (await client.get("/console/campaigns")).text()
    assert "delivery-followup <small>paused</small>" in page and "Enable" in page
    forged = await client.post(f"/console/campaigns/{CAMPAIGN}", data={"action": "enable"})
    assert forged.status == 403  # no CSRF token: nothing changes
    assert CAMPAIGN not in await app[OUTREACH].store.enabled()

    enabled = await client.post(
        f"/console/campaigns/{CAMPAIGN}", data={"action": "enable", "csrf_token": csrf}, allow_redirects=False
    )
    assert enabled.status == 303
    assert CAMPAIGN in await app[OUTREACH].store.enabled()
    audit = await AuditLog(app[STORES].sql).recent(5)
    assert ("sue", "campaign.enable", CAMPAIGN) in [(e.actor, e.action, e.subject) for e in audit]

    sid = (await app[OUTREACH].run_round(CAMPAIGN)).placed[0]
    answered = await twilio.answer_as(sid, "human")
    sorry = await press(twilio, sid, answered.body, "2")
    await press(twilio, sid, sorry, "1")

    state = await (await client.get("/console/campaigns/status.json")).json()
    followup = next(c for c in state if c["campaign"] == CAMPAIGN)
    assert followup["counts"]["answered"] == 1 and followup["scores"]["2"] == 1
    assert followup["average"] == 2.0
    assert followup["unhappy"] == [
        {
            "number": "+1********01",
            "score": 2,
            "about": "order_number 5001, product coffee machine",
            "callback": "pending",
        }
    ]
    page = await (await client.get("/console/campaigns")).text()
    assert "Unhappy customers" in page and "+1********01" in page and "+12125550101" not in page
    paused = await client.post(
        f"/console/campaigns/{CAMPAIGN}", data={"action": "pause", "csrf_token": csrf}, allow_redirects=False
    )
    assert paused.status == 303 and CAMPAIGN not in await app[OUTREACH].store.enabled()


async def test_a_customer_not_called_yet_is_listed_with_why_and_when(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    """At noon in New York, Mia in Sydney is asleep: the page says so and when she will be called,
    rather than a bare "waiting 1"; re-imported with another zone, she moves with it."""
    settings = outreach_settings(tmp_path, twilio)
    await import_customers(settings.database_url)
    client = await console_client(aiohttp_client, outreach_app(settings, Clock()))
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    await add_account(client.app, "sue", Role.SUPERVISOR)
    await sign_in(client, "sue")
    outreach = client.app[OUTREACH]
    await outreach.store.set_enabled(CAMPAIGN, True, "sue", 0.0)
    await outreach.run_round(CAMPAIGN)

    state = await (await client.get("/console/campaigns/status.json")).json()
    (mia,) = next(c for c in state if c["campaign"] == CAMPAIGN)["waiting"]
    assert mia["who"] == "Mia Chen" and "61255501234" not in mia["number"]
    assert mia["why"] == "Outside 10:00-19:00 in the customer's time (Australia/Sydney, 04:00 there)."
    assert mia["next_call"].endswith("(in 6 h 0 min)"), "10:00 in Sydney, six hours on"
    page = await (await client.get("/console/campaigns")).text()
    assert "Waiting for a call" in page and "Australia/Sydney, 04:00 there" in page

    await import_customers(settings.database_url, ORDERS.replace("Australia/Sydney", "America/Chicago"))
    await outreach.run_round(CAMPAIGN)
    state = await (await client.get("/console/campaigns/status.json")).json()
    assert next(c for c in state if c["campaign"] == CAMPAIGN)["waiting"] == [], "called now, in Chicago"
