"""The issue's scenario in a real headless chromium: a caller who pressed 0 after hearing
their repair status appears on a signed-in agent's desk without a reload, with the ticket
number; the agent takes the call, accepts the whisper on their phone and is bridged; after
hours a caller leaves a voicemail, which the agent works through and marks done."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ivr.agents.desk import AgentDesk
from ivr.agents.web import AGENT_LINE
from ivr.console.agent_desk import NO_TRANSCRIPT
from ivr.sandbox.account import TwilioAccount
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, Caller
from tests.agent_line import (
    AGENT_PHONE,
    agent_app,
    korean_model,
    press_0_after_repair_status,
    voicemail_audio,
)
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account


async def test_an_agent_takes_a_queued_caller_and_works_a_voicemail(
    browser_page: Any, tmp_path: Path, twilio: TwilioAccount
) -> None:
    app = await agent_app(tmp_path, twilio, IVR_VOSK_MODEL=str(korean_model()))
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    twilio.deliver_to(PUBLIC_URL, str(server.make_url("")))
    desk: AgentDesk = server.app[AGENT_LINE].desk
    page = browser_page
    try:
        await add_account(server.app, "maria", Role.AGENT, display_name="Maria", phone=AGENT_PHONE)
        await page.goto(str(server.make_url("/console/agent")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.wait_for_url("**/console/agent")
        await page.wait_for_selector("#live:text('Live')")
        # Busy: routing leaves her alone, she picks callers herself.
        await page.click(".status-buttons button[data-status=busy]")
        await page.wait_for_selector("#my-status[data-status=busy]")

        caller_sid = twilio.add_live_call(from_=VERIFIED_PHONE)
        await press_0_after_repair_status(client, caller_sid)
        row = page.locator(f"#queue tr[data-state=waiting]:has(a[href*='{caller_sid}'])")
        await row.wait_for()
        text = await row.inner_text()
        # One glance: who, how the line knows, what she wants, and the repair she asked about
        # (after the order the greeting offered) as a sentence, dates written the one way.
        assert "Jane Doe" in text and "Verified by caller ID" in text and "Asked for a person" in text
        fact = await row.locator(".fact").first.inner_text()
        assert fact == "Repair 3141, espresso machine, waiting for parts since 21 Nov, due 2 Dec"
        assert "Order 4512, shipped with UPS on 23 Nov, due 4 Dec" in text
        assert "+15550100001" in text  # the greeting verified her by caller ID: the desk shows it
        assert "waiting_for_parts" not in text and "2026-" not in text, "no raw values on the glance"
        assert not await row.locator("details.more dl").is_visible(), "the rest is folded away"
        box = await row.bounding_box()
        assert box is not None and box["height"] < 200, f"a caller takes {box} of the screen"

        await row.locator("button.take").click()
        await page.wait_for_selector("#queue tr[data-state=offered]")
        [placed] = twilio.requests_to("Calls.json")
        assert placed.get("To") == AGENT_PHONE
        agent_sid = next(sid for sid, call in twilio.calls.items() if call.to == AGENT_PHONE)
        whisper = await twilio.answer(agent_sid)
        assert "3 1 4 1" in whisper.body or "3141" in whisper.body, whisper.body
        agent_phone = Caller(client, phone=AGENT_PHONE, call_sid=agent_sid)
        agent_phone.last = None
        await agent_phone.post(_gather_action(whisper.body), {"Digits": "1"})
        await page.wait_for_selector("#queue tr[data-state=bridged]")
        assert "you" in await page.locator("#queue tr[data-state=bridged] .state").inner_text()
        assert twilio.calls[caller_sid].redirects, "the caller was not moved out of the queue"

        # After hours (the emergency switch here): the next caller leaves a message.
        await desk.set_emergency_closed(True, "sam")
        await page.wait_for_selector("#emergency-state.error")
        late = await press_0_after_repair_status_to_voicemail(client)
        recording = twilio.add_recording(voicemail_audio())
        record = late.last.root.find("Record") if late.last else None
        assert record is not None
        await late.raw_post(
            record.get("recordingStatusCallback", ""),
            late.params(
                {
                    "RecordingUrl": recording,
                    "RecordingSid": recording.rsplit("/", 1)[1],
                    "RecordingDuration": "1",
                }
            ),
        )
        voicemail = page.locator(f".voicemail:has(a[href*='{late.call_sid}'])")
        await voicemail.wait_for()
        assert "3141" in await voicemail.inner_text()
        # fetched from Twilio and transcribed offline by the real Vosk recogniser, shown live
        heard = voicemail.locator(".transcript-text")
        await heard.wait_for(timeout=60_000)
        (ticket,) = await desk.store.voicemails.listed(include_done=False)
        assert ticket.transcript and await heard.inner_text() == ticket.transcript
        await voicemail.locator("button.done").click()
        await voicemail.wait_for(state="detached")
        assert await desk.store.voicemails.listed(include_done=False) == []
    finally:
        await client.close()


async def press_0_after_repair_status_to_voicemail(client: TestClient) -> Caller:
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("2")
    await caller.press("3141")
    closed = await caller.press("0")
    assert closed.root.find("Record") is not None, closed.twiml
    return caller


def _gather_action(twiml: str) -> str:
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather.get("action", "")


async def test_a_voicemail_without_text_says_why(
    browser_page: Any, tmp_path: Path, twilio: TwilioAccount
) -> None:
    """The desk read a field the server never sent and said only "No transcript."."""
    app = await agent_app(tmp_path, twilio)
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    desk: AgentDesk = server.app[AGENT_LINE].desk
    page = browser_page
    try:
        await add_account(server.app, "maria", Role.AGENT, display_name="Maria", phone=AGENT_PHONE)
        vm_id = await desk.store.voicemails.start(
            "CAvoicemail", VERIFIED_PHONE, "caller_asked", {"ticket_number": "3141"}
        )
        recording = twilio.add_recording(voicemail_audio())
        await desk.store.voicemails.recorded(vm_id, recording, recording.rsplit("/", 1)[1], 1)
        await page.goto(str(server.make_url("/console/agent")))
        await sign_in_form(page, "maria", PASSWORD)
        # no speech model here: fetched, kept, and the desk says why there is no text
        # fetched or not yet, transcribed or not: the desk says which, in words
        why = page.locator(".voicemail .no-transcript")
        await why.wait_for()
        assert await why.inner_text() in NO_TRANSCRIPT.values()
        # the time it was left, written like every date on the desk: "8 Dec, 00:13"
        left = await page.locator(".voicemail .left-at").inner_text()
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}", left), left
    finally:
        await client.close()
