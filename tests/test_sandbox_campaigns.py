"""Campaigns on the sandbox telephone network, as in the demo (IVR_TELEPHONY=sandbox): the
operator imports a delivery and enables the follow-up, the server's round places the call
through the sandbox's account, the customer's sandbox phone rings, and pressing 5 then 1 sends
the review text to that phone. Every hop is real: the CLI, the phone API over HTTP, the official
`twilio` client against the sandbox's account, and its signed webhooks back to the line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession

from ivr.config import SANDBOX_NUMBER
from ivr.outreach.service import campaign_status
from ivr.outreach.web import OUTREACH
from ivr.testing.caller import TOKEN
from tests.sandbox_line import SandboxPhone, sandbox_line

pytestmark = pytest.mark.process

CUSTOMER = "+15550100003"
"""Ana Ruiz in the demo data: a sandbox number."""
NOON_IN_CHICAGO = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
"""The campaigns' clock: inside the calling window where Ana lives (tests.conftest's TODAY)."""
REVIEWS = "https://reviews.example.com/acme"
HEADER = "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
DELIVERED = f"""{HEADER},contact_ok,time_zone
9100,{CUSTOMER},Ana Ruiz,60614,delivered,USPS,94001,2026-11-15,2026-11-17,2026-11-20,yes,America/Chicago
"""


def ivr(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """An `ivr` command as the operator runs it beside `ivr sandbox`, on the same database."""
    env = {
        **os.environ,
        "IVR_DATA_DIR": str(tmp_path),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_TELEPHONY": "sandbox",
    }
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_an_enabled_follow_up_rings_the_customers_sandbox_phone_and_5_sends_the_review_text(
    tmp_path: Path,
) -> None:
    orders = tmp_path / "delivered.csv"
    orders.write_text(DELIVERED)
    async with (
        sandbox_line(
            tmp_path, now=lambda: NOON_IN_CHICAGO, IVR_CAMPAIGN_ROUND="1", IVR_REVIEW_URL=REVIEWS
        ) as server,
        ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        phone = SandboxPhone(session, base, CUSTOMER)
        imported = ivr(tmp_path, "import", "orders", str(orders))
        assert imported.returncode == 0, imported.stderr
        # run-once cannot reach the sandbox from another process, and says what to do instead
        refused = ivr(tmp_path, "campaigns", "run-once", "delivery-followup")
        assert refused.returncode == 1 and "enable the campaign" in refused.stderr
        enabled = ivr(tmp_path, "campaigns", "enable", "delivery-followup")
        assert enabled.returncode == 0, enabled.stderr

        ring = await phone.next_event("ringing", SANDBOX_NUMBER)  # the server's next round calls
        call = ring["call"]
        await phone.act("answer", call=call)
        await phone.next_event("say", "Hi Ana Ruiz, this is Acme. Your order was delivered on Friday")
        await phone.next_event("listening")
        await phone.act("keys", call=call, keys="5")
        await phone.next_event("say", "May we text you a link to share your experience?")
        await phone.next_event("listening")
        await phone.act("keys", call=call, keys="1")
        text = await phone.next_event("text", REVIEWS)
        assert text["text"].startswith(f"{SANDBOX_NUMBER}: Thanks for choosing Acme!"), text
        await phone.next_event("say", "The text is on its way. Goodbye.")
        await phone.next_event("ended")

        report = await campaign_status(server.app[OUTREACH], "delivery-followup")
        assert report["scores"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}
