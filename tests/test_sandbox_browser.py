"""The README's walkthrough in a real headless chromium, on the sandbox telephone network.

A caller (over the phone API, as `ivr phone` calls) asks about repair 3141 and presses 0; the
agent signed in to the desk sees them, takes the call, answers on the console's dev phone
page, hears the whisper there, presses 1 on its keypad and is bridged; the desk shows it.
Nothing is played by hand: the sandbox rings, fetches TwiML and posts signed webhooks.

With IVR_SCREENSHOT_DIR set, the desk and the dev phone are saved there as PNGs (the README's
pictures in docs/ are made so).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from ivr.store.accounts import Role
from ivr.testing.caller import VERIFIED_PHONE
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account
from tests.sandbox_line import SandboxPhone, sandbox_line

AGENT_PHONE = "+15550100201"


async def test_an_agent_answers_on_the_dev_phone_hears_the_whisper_and_is_bridged(
    browser_page: Any, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("IVR_SCREENSHOT_DIR", tmp_path))
    page = browser_page
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        base = str(server.make_url("")).rstrip("/")
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        await page.set_viewport_size({"width": 1200, "height": 800})
        await page.goto(f"{base}/console/agent")
        await sign_in_form(page, "alex", PASSWORD)
        await page.wait_for_url("**/console/agent")
        await page.wait_for_selector("#live:text('Live')")
        await page.click(".status-buttons button[data-status=busy]")
        await page.wait_for_selector("#my-status[data-status=busy]")

        phone = await page.context.new_page()
        errors: list[str] = []
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        await phone.set_viewport_size({"width": 1200, "height": 800})
        await phone.goto(f"{base}/console/phone")
        await phone.click(f"a[href='/console/phone/{AGENT_PHONE}']")
        await phone.wait_for_selector("#call-state[data-state=idle]")

        caller = SandboxPhone(session, base, VERIFIED_PHONE)
        call = await caller.ask_for_an_agent_about_repair("queued")

        row = page.locator(f"#queue tr[data-state=waiting]:has(a[href*='{call}'])")
        await row.wait_for()
        assert "3141" in await row.inner_text()
        await row.locator(".fact", has_text="Repair 3141").wait_for()
        await (
            page.locator("#queue")
            .locator("xpath=ancestor::section")
            .screenshot(path=str(shots / "screen-pop.png"))
        )
        await row.locator("button.take").click()
        await page.wait_for_selector("#queue tr[data-state=offered]")

        await phone.wait_for_selector("#call-state[data-state=ringing]")
        await phone.click("#answer")
        whisper = phone.locator("#heard li[data-kind=say]", has_text="3 1 4 1")
        await whisper.wait_for()
        await phone.locator("#heard li[data-kind=say]", has_text="Press 1 to take this call").wait_for()
        await phone.screenshot(path=str(shots / "dev-phone.png"))
        await phone.click("#keypad button[data-key='1']")
        await phone.locator("#heard li[data-kind=you]", has_text="You pressed 1").wait_for()
        joined = phone.locator("#heard li[data-kind=conference]", has_text=VERIFIED_PHONE)
        await joined.wait_for()
        conference = await phone.locator("#heard li[data-kind=conference]").all_inner_texts()
        assert conference and not any("entry-" in line for line in conference), conference
        # what the line said is numbered inside each item, so "10." is never clipped by a margin
        numbers = await phone.evaluate(
            "() => [...document.querySelectorAll('#heard li[data-kind=say]')].map((li) =>"
            " [getComputedStyle(li, '::before').content, li.getBoundingClientRect().left"
            " >= document.getElementById('heard').getBoundingClientRect().left])"
        )
        assert numbers and all(content.startswith("counter(") and inside for content, inside in numbers), (
            numbers
        )

        bridged = page.locator(f"#queue tr[data-state=bridged]:has(a[href*='{call}'])")
        await bridged.wait_for()
        assert "you" in await bridged.locator(".state").inner_text()
        await caller.next_event("conference", AGENT_PHONE)
        await page.screenshot(path=str(shots / "agent-desk.png"))

        await caller.act("hangup", call=call)
        await phone.wait_for_selector("#call-state[data-state=idle]")
        await phone.close()
        assert not errors, f"the dev phone raised script errors: {errors}"
