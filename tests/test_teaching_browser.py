"""The supervisor's loop in a real headless browser: a caller is not understood, the sentence
shows on the insights page, a supervisor says which request it meant, sees what that changes,
publishes the draft in the flow editor, and the next caller who says it is understood."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ivr.store.accounts import Role
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account

MISSED = "my gizmo went walkabout"
"""Words no intent knows before the lesson."""


async def say_at_the_main_menu(phone: TestClient, words: str) -> str:
    """What a new caller hears after saying `words` at the main menu (signed webhooks)."""
    caller = Caller(phone)
    await caller.dial_to_menu()
    heard = (await caller.say(words)).text
    await caller.hang_up()
    return heard


async def test_a_missed_sentence_is_taught_published_and_then_understood(
    browser_page: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    server = TestServer(create_app(settings, today=lambda: TODAY), host="127.0.0.1")
    phone = TestClient(server)  # Twilio's side: signed webhooks to the same running server
    await phone.start_server()
    try:
        not_understood = await say_at_the_main_menu(phone, MISSED)
        assert "order number" not in not_understood
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        page = browser_page
        await page.goto(str(server.make_url("/console/insights")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.wait_for_url("**/console/insights**")
        row = page.locator("#misheard tbody tr", has_text=MISSED)
        await row.wait_for()
        await row.locator("select[name=intent]").select_option("order_status")
        assert await row.locator("select[name=language]").input_value() == "en"
        await row.locator("button[type=submit]").click()

        await page.wait_for_selector("#teach-done")
        assert MISSED in await page.inner_text("#teach-done")
        assert (await page.inner_text("#heard-before")).startswith("not understood")
        assert (await page.inner_text("#heard-after")).startswith("order status")
        assert await page.locator("#per-intent tr.taught").count() == 1
        assert await say_at_the_main_menu(phone, MISSED) == not_understood, "only the draft has it"

        await page.click("#to-editor")
        await page.wait_for_url("**/console/flows/support")
        await page.wait_for_selector("text=none: the draft is valid")
        await page.click("#publish")
        await page.wait_for_selector("#confirm[open]")
        assert f"+{' ' * 9}" in await page.locator("#confirm-diff").inner_text()
        assert MISSED in await page.locator("#confirm-diff").inner_text()
        await page.click("#confirm-yes")
        await page.wait_for_selector("text=Published version 2.")
        assert "order number" in await say_at_the_main_menu(phone, MISSED)  # the next call, no restart
    finally:
        await phone.close()
