"""The campaigns page in a real headless browser: a supervisor enables a campaign and pauses it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from ivr.outreach.web import OUTREACH
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.store.accounts import Role
from ivr.testing.caller import TOKEN
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account
from tests.outreach_line import Clock, outreach_app, outreach_settings


@pytest.fixture
async def twilio() -> AsyncIterator[OutboundAccount]:
    async with running_outbound_account(TOKEN) as account:
        yield account


async def test_a_supervisor_enables_and_pauses_a_campaign(
    browser_page: Any, tmp_path: Path, twilio: OutboundAccount
) -> None:
    server = TestServer(outreach_app(outreach_settings(tmp_path, twilio), Clock()), host="127.0.0.1")
    await server.start_server()
    try:
        await add_account(server.app, "sue", Role.SUPERVISOR, display_name="Sue")
        page = browser_page
        await page.goto(str(server.make_url("/console/campaigns")))
        await sign_in_form(page, "sue", PASSWORD)
        await page.wait_for_url("**/console/campaigns")
        card = page.locator("#campaign-warranty-expiry")
        assert "paused" in await card.locator("h2").inner_text()
        await card.locator("button[value=enable]").click()
        await page.wait_for_selector("#campaign-warranty-expiry button[value=pause]")
        assert "on" in await page.locator("#campaign-warranty-expiry h2").inner_text()
        assert await server.app[OUTREACH].store.enabled() == {"warranty-expiry"}
        await page.locator("#campaign-warranty-expiry button[value=pause]").click()
        await page.wait_for_selector("#campaign-warranty-expiry button[value=enable]")
        assert await server.app[OUTREACH].store.enabled() == set()
    finally:
        await server.close()
