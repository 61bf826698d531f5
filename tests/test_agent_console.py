"""The agent desk over HTTP: who may use it, CSRF, status, taking callers, the live stream."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from ivr.agents.web import AGENT_LINE
from ivr.console.agent_desk import show_number
from ivr.sandbox.account import TwilioAccount
from ivr.store.accounts import Role
from ivr.store.audit import AuditLog
from ivr.testing.caller import Caller
from ivr.web.keys import STORES
from tests.agent_line import (
    AGENT_PHONE,
    a_second_of_silence,
    line,
    next_snapshot,
    press_0_after_repair_status,
)
from tests.console import add_account, sign_in
from tests.test_agents_calls import REPAIR_CONTEXT

__all__ = ["line"]  # fixture

EVENTS = {"Accept": "text/event-stream"}


async def test_the_desk_is_only_for_signed_in_people(line: TestClient) -> None:
    page = await line.get("/console/agent", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/console/login?next=/console/agent"
    assert (await line.get("/console/agent/events", headers=EVENTS)).status == 403
    refused = await line.post("/console/agent/status", json={"status": "available"})
    assert refused.status == 403
    assert (await line.get("/console/agent/calls/CA123/transcript", allow_redirects=False)).status == 303


async def test_status_changes_need_the_csrf_token_and_show_on_the_live_stream(line: TestClient) -> None:
    await add_account(line.app, "maria", Role.AGENT, display_name="Maria", phone=AGENT_PHONE)
    csrf = await sign_in(line, "maria")
    page = await line.get("/console/agent")
    assert page.status == 200
    assert "Take next" in await page.text()
    forged = await line.post("/console/agent/status", json={"status": "busy"})
    assert forged.status == 403
    stream = await line.get("/console/agent/events", headers=EVENTS)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    first = await next_snapshot(stream)
    assert [(a["username"], a["status"]) for a in first["agents"]] == [("maria", "offline")]
    done = await line.post("/console/agent/status", json={"status": "busy"}, headers={"X-CSRF-Token": csrf})
    assert (done.status, await done.json()) == (200, {"ok": True, "status": "busy"})
    changed = await next_snapshot(stream)
    assert [(a["username"], a["status"]) for a in changed["agents"]] == [("maria", "busy")]
    bad = await line.post("/console/agent/status", json={"status": "on_call"}, headers={"X-CSRF-Token": csrf})
    assert bad.status == 400
    assert (await bad.json())["message"] == "'on_call' is set by the desk, not by agents."
    stream.close()


async def test_taking_a_caller_without_a_phone_number_says_what_to_do(line: TestClient) -> None:
    await add_account(line.app, "sam", Role.SUPERVISOR, display_name="Sam")
    csrf = await sign_in(line, "sam")
    answer = await line.post("/console/agent/take", json={}, headers={"X-CSRF-Token": csrf})
    assert answer.status == 409
    assert await answer.json() == {
        "ok": False,
        "code": "desk_no_phone",
        "message": "No phone number on your account: ask an admin to add one.",
    }


async def test_a_queued_caller_reaches_open_desks_with_exactly_the_flows_context(
    line: TestClient, twilio: TwilioAccount
) -> None:
    await add_account(line.app, "maria", Role.AGENT, display_name="Maria", phone=AGENT_PHONE)
    csrf = await sign_in(line, "maria")
    stream = await line.get("/console/agent/events", headers=EVENTS)
    assert (await next_snapshot(stream))["queue"] == []
    caller = await press_0_after_repair_status(line)
    state = await next_snapshot(stream)
    [entry] = state["queue"]
    assert entry["call_sid"] == caller.call_sid
    # The greeting verified the caller by caller ID (their latest order), so the desk shows
    # the number; a stranger's stays masked (show_number, below).
    assert entry["caller"] == "+15550100001"
    assert entry["reason"] == "caller_asked"
    assert entry["context"] == REPAIR_CONTEXT  # every variable the flow collected, nothing added
    assert (entry["position"], entry["state"]) == (1, "waiting")
    headers = {"X-CSRF-Token": csrf}
    assert (await line.post("/console/agent/status", json={"status": "busy"}, headers=headers)).status == 200
    taken = await line.post("/console/agent/take", json={"entry_id": entry["id"]}, headers=headers)
    assert (await taken.json()) == {"ok": True, "entry_id": entry["id"]}
    [placed] = twilio.requests_to("Calls.json")
    assert placed.get("To") == AGENT_PHONE
    stream.close()


async def test_a_caller_taken_by_someone_else_says_by_whom(line: TestClient) -> None:
    await add_account(line.app, "maria", Role.AGENT, display_name="Maria", phone=AGENT_PHONE)
    await add_account(line.app, "li", Role.AGENT, display_name="Li", phone="+15550177778")
    await press_0_after_repair_status(line)
    maria = await sign_in(line, "maria")
    await line.post("/console/agent/status", json={"status": "busy"}, headers={"X-CSRF-Token": maria})
    entry = await (await line.post("/console/agent/take", json={}, headers={"X-CSRF-Token": maria})).json()
    assert entry["ok"], entry
    li = await sign_in(line, "li")
    await line.post("/console/agent/status", json={"status": "busy"}, headers={"X-CSRF-Token": li})
    late = await line.post(
        "/console/agent/take", json={"entry_id": entry["entry_id"]}, headers={"X-CSRF-Token": li}
    )
    assert late.status == 409
    assert (await late.json())["message"] == "That caller was taken by Maria."


async def test_only_supervisors_switch_the_line_closed(line: TestClient) -> None:
    await add_account(line.app, "maria", Role.AGENT, phone=AGENT_PHONE)
    csrf = await sign_in(line, "maria")
    page = await (await line.get("/console/agent")).text()
    assert "emergency-switch" not in page
    refused = await line.post(
        "/console/agent/emergency", json={"closed": True}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status == 403
    await add_account(line.app, "sam", Role.SUPERVISOR)
    csrf = await sign_in(line, "sam")
    assert "emergency-switch" in await (await line.get("/console/agent")).text()
    stream = await line.get("/console/agent/events", headers=EVENTS)
    assert (await next_snapshot(stream))["emergency_closed"] is False
    closed = await line.post(
        "/console/agent/emergency", json={"closed": True}, headers={"X-CSRF-Token": csrf}
    )
    assert await closed.json() == {"ok": True, "closed": True}
    assert (await next_snapshot(stream))["emergency_closed"] is True
    stream.close()


async def test_a_calls_bot_transcript_opens_for_agents(line: TestClient) -> None:
    caller = await press_0_after_repair_status(line)
    url = f"/console/agent/calls/{caller.call_sid}/transcript"
    assert (await line.get(url, allow_redirects=False)).status == 303
    await add_account(line.app, "maria", Role.AGENT, phone=AGENT_PHONE)
    await sign_in(line, "maria")
    page = await line.get(url)
    text = await page.text()
    assert page.status == 200
    assert "repair ticket number" in text
    assert "3141" in text
    await add_account(line.app, "sam", Role.SUPERVISOR)
    await sign_in(line, "sam")
    unknown = await line.get("/console/agent/calls/CAnothing/transcript")
    assert unknown.status == 404
    assert "There is no transcript for this call" in await unknown.text()


async def test_agents_read_only_transcripts_of_calls_handed_to_agents_and_it_is_audited(
    line: TestClient,
) -> None:
    handed = await press_0_after_repair_status(line)
    # A caller the line helped on its own: their order, never an agent's business.
    helped = Caller(line)
    await helped.dial_to_menu()
    await helped.press("1")
    assert "has shipped with UPS" in (await helped.press("4512")).text
    await helped.hang_up()
    await add_account(line.app, "maria", Role.AGENT, phone=AGENT_PHONE)
    await add_account(line.app, "sam", Role.SUPERVISOR)

    await sign_in(line, "maria")
    assert (await line.get(f"/console/agent/calls/{handed.call_sid}/transcript")).status == 200
    refused = await line.get(f"/console/agent/calls/{helped.call_sid}/transcript")
    assert refused.status == 403
    assert "calls handed to agents" in await refused.text()
    assert (await line.get("/console/agent/calls/CAnothing/transcript")).status == 403  # says nothing
    await sign_in(line, "sam")
    shown = await line.get(f"/console/agent/calls/{helped.call_sid}/transcript")
    assert shown.status == 200 and "4 5 1 2" in await shown.text()

    entries = await AuditLog(line.app[STORES].sql).recent()
    transcripts = [(e.actor, e.action, e.subject) for e in reversed(entries) if "transcript" in e.action]
    assert transcripts == [
        ("maria", "transcript.view", handed.call_sid),
        ("maria", "transcript.refused", helped.call_sid),
        ("maria", "transcript.refused", "CAnothing"),
        ("sam", "transcript.view", helped.call_sid),
    ]


async def test_a_voicemail_recording_is_served_only_to_signed_in_agents(
    line: TestClient, twilio: TwilioAccount
) -> None:
    desk = line.app[AGENT_LINE].desk
    vm_id = await desk.store.voicemails.start(
        "CAvoicemail1", "+15550100001", "caller_asked", {"ticket_number": "3141"}
    )
    wav = a_second_of_silence()
    recording = twilio.add_recording(wav)
    await desk.store.voicemails.recorded(vm_id, recording, recording.rsplit("/", 1)[1], 1)
    worker = line.app[AGENT_LINE].worker
    assert worker is not None
    await worker.work()
    url = f"/console/agent/voicemails/{vm_id}/audio"
    assert (await line.get(url, allow_redirects=False)).status == 303
    await add_account(line.app, "maria", Role.AGENT, phone=AGENT_PHONE)
    await sign_in(line, "maria")
    audio = await line.get(url)
    assert (audio.status, audio.headers["Content-Type"]) == (200, "audio/wav")
    assert await audio.read() == wav
    assert (await line.get("/console/agent/voicemails/nothing/audio")).status == 404


def test_only_numbers_the_flow_verified_are_shown_whole() -> None:
    assert show_number("+15550100001", {"verified": "yes"}) == "+15550100001"
    assert show_number("+15550100001", {"verified": "no"}) == "+1••••••0001"
    assert show_number("+15550100001", {}) == "+1••••••0001"
    assert show_number("12345", {}) == "•••••"
