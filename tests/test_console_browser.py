"""The console in a real headless browser: sign-in and the admin's accounts page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from ivr.store.accounts import Role
from ivr.testing.demo_line import TODAY, make_settings
from ivr.web.app import create_app
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account


async def test_an_admin_signs_in_and_adds_an_agent(browser_page: Any, tmp_path: Path) -> None:
    server = TestServer(create_app(make_settings(tmp_path), today=lambda: TODAY), host="127.0.0.1")
    await server.start_server()
    try:
        await add_account(server.app, "ada", Role.ADMIN, display_name="Ada Admin")
        page = browser_page
        await page.goto(str(server.make_url("/console/accounts")))
        assert "/console/login" in page.url
        await sign_in_form(page, "ada", "wrong password!")
        assert "do not match" in await page.locator("[role=alert]").inner_text()
        await sign_in_form(page, "ada", PASSWORD)
        # The wrong password is told to the account's holder before they go on.
        assert "1 failed sign-in to your account" in await page.locator("[role=alert]").inner_text()
        await page.click("text=Continue")
        await page.wait_for_url("**/console/accounts")
        assert "Ada Admin (admin)" in await page.locator(".who").inner_text()
        new = page.locator("section.card form")
        await new.locator("input[name=username]").fill("alex")
        await new.locator("select[name=role]").select_option("agent")
        await new.locator("input[name=skills]").fill("en, repairs")
        await new.locator("input[name=password]").fill("a good long password")
        await new.locator("button[type=submit]").click()
        await page.wait_for_selector("text=account.create")
        assert await page.locator("input[aria-label='Skills of alex']").input_value() == "en, repairs"
    finally:
        await server.close()
