"""The README's walk-through, steps 4 to 6, in a real headless chromium on the sandbox network.

Steps 1 to 3 are `tests/test_sandbox_browser.py`; step 7 is `tests/test_sandbox_campaigns.py`.
Here, as the README tells a new user, with the demo's settings (the callback offered at once):

4. a caller presses 0, then 1 to be called back; the agent (Busy) calls back from the desk,
   answers the whisper on the dev phone with 1, and the customer's phone rings and joins;
5. a supervisor closes the line, a caller leaves a typed voicemail, it appears on the desk,
   and the line is reopened;
6. the caller takes order 4512's status, accepts the tracking text, and it arrives on the
   caller's phone (as their terminal, `ivr phone`, shows it).

Each step waits for what a person would see (a row, a ring, a text), never for time to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from ivr.store.accounts import Role
from ivr.testing.caller import VERIFIED_PHONE
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account
from tests.sandbox_line import SandboxPhone, sandbox_line

AGENT_PHONE = "+15550100201"


async def _desk(page: Any, base: str, username: str) -> None:
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(f"{base}/console/agent")
    await sign_in_form(page, username, PASSWORD)
    await page.wait_for_url("**/console/agent")
    await page.wait_for_selector("#live:text('Live')")


async def test_readme_steps_4_to_6_a_callback_a_voicemail_and_a_text(
    browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    async with (
        sandbox_line(tmp_path, IVR_CALLBACK_OFFER_AFTER="0") as server,
        ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        await _desk(page, base, "alex")
        await page.click(".status-buttons button[data-status=busy]")
        await page.wait_for_selector("#my-status[data-status=busy]")
        phone = await page.context.new_page()
        await phone.goto(f"{base}/console/phone/{AGENT_PHONE}")
        await phone.wait_for_selector("#call-state[data-state=idle]")
        customer = SandboxPhone(session, base, VERIFIED_PHONE)

        # 4. A callback: press 0, then 1 while waiting; the agent calls back from the desk.
        call = await customer.call_line()
        await customer.next_event("listening")
        await customer.act("keys", call=call, keys="0")
        await customer.next_event("queued")
        await customer.next_event("say", "To be called back instead of waiting, press 1.")
        await customer.act("keys", call=call, keys="1")
        await customer.next_event("say", "We will call you back at your number ending in 0 1")
        await customer.next_event("ended")
        row = page.locator("#callbacks tr")
        await row.first.wait_for()
        await row.first.locator("button.call-back").click()
        await phone.wait_for_selector("#call-state[data-state=ringing]")
        await phone.click("#answer")
        await phone.locator("#heard li[data-kind=say]", has_text="Press 1 to take this call").wait_for()
        await phone.click("#keypad button[data-key='1']")
        ring = await customer.next_event("ringing")
        await customer.act("answer", call=ring["call"])
        await customer.next_event("say", "calling you back as you asked")
        await customer.next_event("conference", AGENT_PHONE)
        await customer.act("hangup", call=ring["call"])
        await phone.wait_for_selector("#call-state[data-state=idle]")
        await page.locator("#callbacks-empty").wait_for()

        # 5. A voicemail: maria closes the line, a caller leaves a typed message, maria reopens.
        supervisor = await page.context.browser.new_context()
        desk = await supervisor.new_page()
        try:
            await _desk(desk, base, "maria")
            desk.on("dialog", lambda dialog: dialog.accept())
            await desk.click("#emergency-switch")
            await desk.wait_for_selector("#emergency-switch[data-closed=true]")
            call = await customer.call_line()
            await customer.next_event("listening")
            await customer.act("keys", call=call, keys="0")
            await customer.next_event("recording")
            await customer.act("say", call=call, text="Please call me about my coffee machine")
            await customer.next_event("ended")
            voicemail = desk.locator("#voicemails li.voicemail")
            await voicemail.first.wait_for()
            await voicemail.first.locator(".no-transcript, .transcript-text").wait_for()
            await desk.click("#emergency-switch")
            await desk.wait_for_selector("#emergency-switch[data-closed=false]")
        finally:
            await supervisor.close()

        # 6. A text: order 4512's status, then 1 for the tracking link; it arrives on the phone.
        call = await customer.call_line()
        await customer.next_event("say", "4 5 1 2")
        await customer.next_event("listening")
        await customer.act("keys", call=call, keys="1")
        await customer.next_event("say", "To get the tracking link by text, press 1.")
        await customer.next_event("listening")
        await customer.act("keys", call=call, keys="1")
        text = await customer.next_event("text")  # sent before the line says so
        assert "track" in text["text"].lower(), text
        await customer.next_event("say", "I've sent it by text")
        await customer.act("hangup", call=call)
        await phone.close()  # the pages' live connections would hold the server's shutdown
        await page.goto("about:blank")
