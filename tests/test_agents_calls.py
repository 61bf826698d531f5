"""Warm transfer end to end: the real server, signed webhooks, and the sandbox's Twilio account over HTTP."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.model import AgentStatus, CallbackState, EntryState, TranscriptStatus
from ivr.agents.routing import Idle, Waiting, pick, topic_of
from ivr.agents.web import AGENT_LINE
from ivr.config import ConfigError
from ivr.sandbox.account import ACCOUNT_SID, TwilioAccount
from ivr.speech.audio import decode_wav
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, Caller
from ivr.testing.demo_line import make_settings
from tests.agent_line import a_second_of_silence, agent_app, korean_model, voicemail_audio
from tests.console import add_account

AGENT_PHONE = "+15550107001"

REPAIR_CONTEXT = {
    "ticket_number": "3141",
    "repair_product": "espresso machine",
    "repair_status": "waiting_for_parts",
    "repair_updated_on": "2026-11-21",
    "repair_eta": "2026-12-02",
    # The line greeted the caller with their latest order (caller ID on file), so the agent
    # knows it too, and that the caller ID verified it.
    "first_name": "Jane",
    "order_number": "4512",
    "verified_order": "4512",
    "customer_name": "Jane Doe",
    "order_status": "shipped",
    "carrier": "UPS",
    "tracking_number": "1Z999AA10123456784",
    "placed_on": "2026-11-20",
    "ship_date": "2026-11-23",
    "eta": "2026-12-04",
    "eta_due": "2026-12-04",
    "repair_due": "2026-12-02",
    "verified": "yes",
    "language": "en",
}


async def start(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount, **env: str) -> TestClient:
    app = await agent_app(tmp_path, twilio, **env)
    app[AGENT_LINE].tick = 0.05
    client = await aiohttp_client(app)
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    return client


async def post(caller: Caller, url: str, extra: dict[str, str] | None = None) -> ET.Element:
    response = await caller.raw_post(url, caller.params(extra))
    assert response.status == 200, await response.text()
    assert response.content_type == "text/xml"
    return ET.fromstring(await response.text())


def said(root: ET.Element) -> str:
    return " ".join((el.text or "").strip() for el in root.iter("Say"))


async def eventually(check: Callable[[], object], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():  # type: ignore[misc]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def repair_caller_presses_0(client: TestClient, *, open_: bool = True) -> tuple[Caller, ET.Element]:
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("2")
    await caller.press("3141")
    if not open_:  # the answer ends in <Record>: no queue
        return caller, await post(caller, caller._action(), {"Digits": "0"})
    turn = await caller.press("0")
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    return caller, turn.root


def test_routing_offers_the_longest_waiting_caller_to_the_longest_idle_agent_with_the_skill() -> None:
    agents = [
        Idle("ann", frozenset(), 50.0),
        Idle("bob", frozenset({"de"}), 10.0),
        Idle("cy", frozenset(), 20.0),
    ]
    waiting = [Waiting("late", "", 0, 30.0), Waiting("early", "", 0, 10.0), Waiting("german", "de", 0, 5.0)]
    assert pick(waiting, agents) == (waiting[2], agents[1]), "first come: bob speaks German"
    assert pick(waiting[:2], agents) == (waiting[1], agents[1]), "no skill needed: the longest idle"
    put_back = Waiting("back", "", 1, 40.0, frozenset({"bob"}))
    assert pick([*waiting[:2], put_back], agents) == (put_back, agents[2]), "head of queue, not the decliner"
    french = Waiting("fr", "fr", 0, 1.0)
    assert pick([french], agents) == (french, agents[2]), "no skills listed: a generalist takes anyone"
    assert pick([french], agents[1:2]) is None, "bob lists German only"


def test_the_topic_is_preferred_but_never_keeps_a_caller_waiting() -> None:
    ann = Idle("ann", frozenset({"en"}), 10.0)
    rita = Idle("rita", frozenset({"en", "repairs"}), 50.0)
    repair = Waiting("r", "en", 0, 1.0, topic=topic_of({"ticket_number": "3141"}))
    assert repair.topic == "repairs"
    assert pick([repair], [ann, rita]) == (repair, rita), "the repairs agent, though ann was idle longer"
    assert pick([repair], [ann]) == (repair, ann), "no repairs agent free: anyone who speaks English"
    assert topic_of({"order_number": "4512"}) == "orders" and topic_of({"topic": "recall"}) == "recall"


async def test_queued_caller_is_whispered_to_an_agent_and_bridged(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio, IVR_CALLBACK_OFFER_AFTER="60")
    desk = client.app[AGENT_LINE].desk
    caller, root = await repair_caller_presses_0(client)
    (entry,) = await desk.store.queue.live()
    assert entry.call_sid == caller.call_sid and entry.reason == "caller_asked"
    assert dict(entry.context) == REPAIR_CONTEXT, "exactly the flow's context"
    enqueue = root.find("Enqueue")
    assert enqueue is not None and enqueue.get("waitUrl", "").endswith(f"/voice/queue/wait?entry={entry.id}")

    wait = await post(caller, enqueue.get("waitUrl", ""), {"QueuePosition": "1", "QueueTime": "5"})
    assert "You are next. Your estimated wait is about 3 minutes." in said(wait)
    assert "press 1" in said(wait), "the estimate is over IVR_CALLBACK_OFFER_AFTER"
    play = wait.find(".//Play")
    assert play is not None and play.text == f"{PUBLIC_URL}/audio/hold.wav"
    music = await client.get("/audio/hold.wav")
    samples, rate = decode_wav(await music.read())
    assert rate == 8000 and len(samples) == 8 * 8000

    await add_account(client.app, "ann", Role.AGENT, phone=AGENT_PHONE)
    await desk.set_status("ann", AgentStatus.AVAILABLE)
    await eventually(lambda: _ringing(twilio))
    (ring,) = twilio.requests_to("/Calls.json")
    assert ring.get("To") == AGENT_PHONE
    agent_sid = next(iter(twilio.calls))
    whisper = ET.fromstring((await twilio.answer(agent_sid)).body)
    text = said(whisper)
    # The greeting found the caller's latest order by caller ID: the agent hears whose call it is.
    assert text.startswith(
        "Caller: Jane Doe, verified, speaks English. The caller asked for an agent. Order 4 5 1 2, shipped."
    )
    assert "Repair ticket 3 1 4 1 for an espresso machine, waiting for parts." in text

    inbound = twilio.add_live_call(from_="+15550100001")
    await desk.sql.execute("UPDATE queue_entries SET call_sid = $2 WHERE id = $1", entry.id, inbound)
    gather = whisper.find("Gather")
    assert gather is not None
    answer = await twilio_post(twilio, gather.get("action", ""), agent_sid, {"Digits": "1"})
    conference = answer.find("Dial/Conference")
    assert conference is not None and conference.text == f"entry-{entry.id}"
    assert twilio.calls[inbound].redirects == [f"{PUBLIC_URL}/voice/queue/join?entry={entry.id}"]
    bridged = await desk.store.queue.get(entry.id)
    assert bridged is not None and bridged.state is EntryState.BRIDGED
    assert (await desk.agents())[0].status is AgentStatus.ON_CALL

    await twilio.post_status(agent_sid, "completed")
    ann = (await desk.agents())[0]
    assert ann.status is AgentStatus.AVAILABLE, "she was available when it rang"


async def twilio_post(twilio: TwilioAccount, url: str, call_sid: str, extra: dict[str, str]) -> ET.Element:
    call = twilio.calls[call_sid]
    result = await twilio.post_signed(url, {**twilio.call_params(call), **extra})
    assert result.status == 200, result.body
    return ET.fromstring(result.body)


async def _ringing(twilio: TwilioAccount) -> bool:
    return bool(twilio.requests_to("/Calls.json"))


async def test_a_missed_offer_puts_the_caller_back_at_the_head_and_the_agent_busy_saying_when(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio)
    desk = client.app[AGENT_LINE].desk
    caller, root = await repair_caller_presses_0(client)
    await add_account(client.app, "ann", Role.AGENT, phone=AGENT_PHONE)
    await desk.set_status("ann", AgentStatus.AVAILABLE)
    await eventually(lambda: _ringing(twilio))
    agent_sid = next(iter(twilio.calls))
    await twilio.post_status(agent_sid, "no-answer")
    (entry,) = await desk.store.queue.live()
    assert (entry.state, entry.priority, entry.position) == (EntryState.WAITING, 1, 1)
    (ann,) = await desk.agents()
    assert ann.status is AgentStatus.BUSY and ann.missed_at > 0, "not offline: still signed in, told why"
    await desk.set_status("ann", AgentStatus.AVAILABLE)
    assert (await desk.agents())[0].missed_at == 0, "choosing a status herself clears the note"
    wait = await post(caller, root.find("Enqueue").get("waitUrl", ""))  # type: ignore[union-attr]
    assert wait.find(".//Play") is not None, "the caller still hears hold music"


async def test_a_caller_whose_call_ends_while_queued_leaves_the_desk(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    """The queue's own webhook never came (a terminal phone, a lost request): the line's status
    callback still takes the caller off the desk, so nobody sees a ghost "waiting" for minutes."""
    client = await start(aiohttp_client, tmp_path, twilio)
    desk = client.app[AGENT_LINE].desk
    caller, _ = await repair_caller_presses_0(client)
    (entry,) = await desk.store.queue.live()
    await caller.hang_up()
    assert await desk.store.queue.live() == []
    gone = await desk.store.queue.get(entry.id)
    assert gone is not None and gone.state is EntryState.ABANDONED


async def test_pressing_1_when_the_line_cannot_place_calls_puts_the_caller_back(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    """The app closed its Twilio client (it is stopping) while the agent's phone rang: the agent
    hears why, the caller goes back to the head of the queue, and the agent stays available."""
    client = await start(aiohttp_client, tmp_path, twilio)
    desk = client.app[AGENT_LINE].desk
    await repair_caller_presses_0(client)
    await add_account(client.app, "ann", Role.AGENT, phone=AGENT_PHONE)
    await desk.set_status("ann", AgentStatus.AVAILABLE)
    await eventually(lambda: _ringing(twilio))
    agent_sid = next(iter(twilio.calls))
    whisper = ET.fromstring((await twilio.answer(agent_sid)).body)
    desk.telephony = None
    gather = whisper.find("Gather")
    assert gather is not None
    answer = await twilio_post(twilio, gather.get("action", ""), agent_sid, {"Digits": "1"})
    assert "the line cannot connect calls right now" in said(answer)
    assert answer.find("Dial") is None and answer.find("Hangup") is not None
    (entry,) = await desk.store.queue.live()
    assert (entry.state, entry.priority, entry.position, entry.offered_to) == (EntryState.WAITING, 1, 1, "")
    assert entry.declined_by == (), "not the agent's choice: they may be offered the caller again"
    (ann,) = await desk.agents()
    assert (ann.status, ann.on_call_with) == (AgentStatus.AVAILABLE, "")


@pytest.mark.parametrize("kind", ["entry", "callback"])
async def test_a_whisper_for_a_caller_no_longer_on_record_says_goodbye_and_frees_the_agent(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount, kind: str
) -> None:
    """The agent picks up, but the caller's (or callback's) record is gone: they hear a polite
    goodbye instead of a fault, the offer ends, and they are available for the next caller."""
    client = await start(aiohttp_client, tmp_path, twilio)
    desk = client.app[AGENT_LINE].desk
    await repair_caller_presses_0(client)
    await add_account(client.app, "ann", Role.AGENT, phone=AGENT_PHONE)
    (entry,) = await desk.store.queue.live()
    if kind == "entry":
        await desk.set_status("ann", AgentStatus.AVAILABLE)
        await eventually(lambda: _ringing(twilio))
        await desk.sql.execute("DELETE FROM queue_entries WHERE id = $1", entry.id)
    else:
        callback = await desk.request_callback(entry.id)
        assert callback is not None
        await desk.set_status("ann", AgentStatus.BUSY)
        await desk.offers.take_callback("ann", callback.id)
        await desk.sql.execute("DELETE FROM callbacks WHERE id = $1", callback.id)
    agent_sid = next(iter(twilio.calls))
    whisper = await twilio.answer(agent_sid)
    assert whisper.status == 200
    root = ET.fromstring(whisper.body)
    assert said(root) == "This caller is no longer waiting. Goodbye."
    assert root.find("Hangup") is not None and root.find("Gather") is None
    was = AgentStatus.AVAILABLE if kind == "entry" else AgentStatus.BUSY  # as she was when it rang
    (ann,) = await desk.agents()
    assert (ann.status, ann.on_call_with) == (was, "")
    await twilio.post_status(agent_sid, "completed")
    (ann,) = await desk.agents()
    assert (ann.status, ann.missed_at) == (was, 0), "the ended offer does not count as missed"


async def test_a_caller_who_chooses_a_message_in_the_queue_is_recorded_with_their_context(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio, IVR_MAX_QUEUE_WAIT="0")
    desk = client.app[AGENT_LINE].desk
    caller, root = await repair_caller_presses_0(client)
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    wait = await post(caller, enqueue.get("waitUrl", ""))
    assert "To leave a message, press 2." in said(wait), "nobody has been free since the caller queued"
    gather = wait.find("Gather")
    assert gather is not None
    assert (await post(caller, gather.get("action", ""), {"Digits": "2"})).find("Leave") is not None
    done = await post(caller, enqueue.get("action", ""), {"QueueResult": "leave"})
    assert "Please leave a message after the tone" in said(done)
    record = done.find("Record")
    assert record is not None
    response = await caller.raw_post(
        record.get("recordingStatusCallback", ""),
        {"RecordingUrl": twilio.add_recording(a_second_of_silence()), "RecordingDuration": "1"},
    )
    assert response.status == 204
    (ticket,) = await desk.store.voicemails.listed(include_done=False)
    assert ticket.call_sid == caller.call_sid and dict(ticket.context) == REPAIR_CONTEXT


async def test_callback_requested_then_retried_until_failed(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(
        aiohttp_client,
        tmp_path,
        twilio,
        IVR_CALLBACK_OFFER_AFTER="0",
        IVR_CALLBACK_ATTEMPTS="2",
        IVR_CALLBACK_BACKOFF="0",
        IVR_CALLBACK_RING_SECONDS="45",
    )
    desk = client.app[AGENT_LINE].desk
    caller, root = await repair_caller_presses_0(client)
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    wait = await post(caller, enqueue.get("waitUrl", ""))
    gather = wait.find("Gather")
    assert gather is not None
    left = await post(caller, gather.get("action", ""), {"Digits": "1"})
    assert left.find("Leave") is not None
    done = await post(caller, enqueue.get("action", ""), {"QueueResult": "leave"})
    assert "We will call you back at your number ending in 0 1 in about 3 minutes." in said(done)
    (callback,) = await desk.store.callbacks.listed(include_done=False)
    assert dict(callback.context) == REPAIR_CONTEXT and callback.number == "+15550100001"

    await add_account(client.app, "ann", Role.AGENT, phone=AGENT_PHONE)
    await desk.set_status("ann", AgentStatus.BUSY)
    for attempt in (1, 2):
        if attempt == 1:
            await desk.offers.take_callback("ann", callback.id)
        else:  # she was busy when she took it, so busy again after: routing waits for her
            assert (await desk.agents())[0].status is AgentStatus.BUSY
            await desk.set_status("ann", AgentStatus.AVAILABLE)  # and offers the due retry by itself
            await eventually(lambda: _calls_to(twilio, AGENT_PHONE, 2))
        agent_sid = [s for s, c in twilio.calls.items() if c.to == AGENT_PHONE][-1]
        whisper = ET.fromstring((await twilio.answer(agent_sid)).body)
        assert said(whisper).startswith("Callback for Jane Doe, verified, speaks English.")
        await twilio_post(twilio, whisper.find("Gather").get("action", ""), agent_sid, {"Digits": "1"})  # type: ignore[union-attr]
        customer_sid = [s for s, c in twilio.calls.items() if c.to == "+15550100001"][-1]
        assert (twilio.calls[agent_sid].timeout, twilio.calls[customer_sid].timeout) == (20, 45)
        await twilio.post_status(customer_sid, "no-answer")
        now = await desk.store.callbacks.get(callback.id)
        await twilio.post_status(agent_sid, "completed")
        assert now is not None and now.attempts == attempt
    assert now.state is CallbackState.FAILED
    assert [c.id for c in await desk.store.callbacks.listed(include_done=False)] == [callback.id], (
        "a failed callback stays listed"
    )


async def _calls_to(twilio: TwilioAccount, number: str, count: int) -> bool:
    return sum(c.to == number for c in twilio.calls.values()) >= count


async def test_after_hours_the_caller_hears_the_hours_and_a_voicemail_is_transcribed(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    model = korean_model()
    hours = tmp_path / "hours.yaml"
    hours.write_text("hours:\n  timezone: Europe/Berlin\n  weekly:\n    mon-sun: closed\n")
    client = await start(aiohttp_client, tmp_path, twilio, IVR_HOURS=str(hours), IVR_VOSK_MODEL=str(model))
    desk = client.app[AGENT_LINE].desk
    _, root = await repair_caller_presses_0(client, open_=False)
    assert "we are closed now" in said(root) and "leave a message" in said(root)
    assert "hold" not in said(root)  # never "please hold" before "we are closed"
    record = root.find("Record")
    assert record is not None and record.get("maxLength") == "120"
    caller = Caller(client)
    url = twilio.add_recording(voicemail_audio())
    response = await caller.raw_post(
        record.get("recordingStatusCallback", ""),
        {
            "RecordingUrl": url,
            "RecordingSid": url.rsplit("/", 1)[-1],
            "RecordingStatus": "completed",
            "RecordingDuration": "3",
            "CallSid": caller.call_sid,
        },
    )
    assert response.status == 204

    async def transcribed() -> bool:
        tickets = await desk.store.voicemails.listed(include_done=False)
        return bool(tickets) and tickets[0].transcript_status is TranscriptStatus.DONE

    await eventually(transcribed, 60)
    (ticket,) = await desk.store.voicemails.listed(include_done=False)
    assert ticket.transcript and dict(ticket.context) == REPAIR_CONTEXT
    assert (tmp_path / "voicemail" / ticket.audio_file).is_file()


async def test_a_recording_that_cannot_be_fetched_is_still_a_ticket(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio)
    desk = client.app[AGENT_LINE].desk
    await desk.set_emergency_closed(True, "root")
    _, root = await repair_caller_presses_0(client, open_=False)
    assert "we are closed at the moment" in said(root)
    assert "hold" not in said(root)
    record = root.find("Record")
    assert record is not None
    caller = Caller(client)
    gone = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE404"
    await caller.raw_post(
        record.get("recordingStatusCallback", ""),
        {"RecordingUrl": gone, "RecordingSid": "RE404", "RecordingDuration": "4", "CallSid": caller.call_sid},
    )

    async def settled() -> bool:
        tickets = await desk.store.voicemails.listed(include_done=False)
        return bool(tickets) and tickets[0].transcript_status is TranscriptStatus.FAILED

    await eventually(settled)
    (ticket,) = await desk.store.voicemails.listed(include_done=False)
    assert "could not be fetched" in ticket.problem and gone in ticket.problem


@pytest.mark.parametrize(
    "path",
    [
        "/voice/queue/wait?entry=nope",
        "/voice/queue/choice?entry=nope",
        "/voice/queue/done?entry=nope",
        "/voice/queue/join?entry=nope",
        "/voice/agent/whisper?offer=nope",
        "/voice/agent/answer?offer=nope",
        "/voice/callback/join?callback=nope",
        "/voice/voicemail/done?vm=nope",
    ],
)
async def test_unknown_calls_get_safe_twiml_and_unsigned_requests_are_refused(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount, path: str
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio)
    caller = Caller(client)
    root = await post(caller, path, {"Digits": "1"})
    assert said(root) and (root.find("Leave") is not None or root.find("Hangup") is not None)
    unsigned = await caller.raw_post(path, caller.params(), signature="")
    assert unsigned.status == 403


def test_the_whisper_says_verified_when_the_flow_verified_a_caller_it_has_no_name_for() -> None:
    from ivr.agents.whisper import summary

    said = summary("caller_asked", {"verified": "yes", "order_number": "4512", "order_status": "shipped"})
    assert said == "Caller: name not known, verified. The caller asked for an agent. Order 4 5 1 2, shipped."


@pytest.mark.parametrize("seconds", ["4", "601", "half a minute"])
def test_ring_times_twilio_would_refuse_are_refused_at_start(tmp_path: Path, seconds: str) -> None:
    for name in ("IVR_AGENT_RING_SECONDS", "IVR_CALLBACK_RING_SECONDS"):
        with pytest.raises(ConfigError, match=f"{name} must be a whole number between 5 and 600"):
            make_settings(tmp_path, **{name: seconds})


def test_every_language_an_agent_may_choose_has_the_desks_words_for_every_reason_and_record_value() -> None:
    from ivr.agents.model import AcceptedNote
    from ivr.agents.whisper import ENGLISH, WORDS
    from ivr.records import OrderStatus, RepairStatus, WarrantyPlan
    from ivr.store.accounts import LANGUAGES

    assert set(WORDS) == set(LANGUAGES)
    values = {v.value for kind in (OrderStatus, RepairStatus, WarrantyPlan) for v in kind}
    for code, words in WORDS.items():
        assert set(words.reasons) == set(ENGLISH.reasons), code
        assert set(words.languages) == set(LANGUAGES), code
        if code != "en":  # English says the records' own words
            assert set(words.statuses) == values, code
        assert set(words.accepted) == {note.value for note in AcceptedNote if note.value}, code
