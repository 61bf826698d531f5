"""The sandbox telephone network with the whole line: a caller reaches an agent with no Twilio account.

Every hop is real: the phone API over HTTP, the line's REST requests through the official
`twilio` client to the sandbox's account, and the sandbox's signed webhooks back to the line.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ivr.agents.model import AgentStatus, EntryState
from ivr.agents.web import AGENT_LINE
from ivr.config import SANDBOX_ACCOUNT_SID, SANDBOX_NUMBER, ConfigError, Settings
from ivr.sandbox.account import TwilioAccount, serving
from ivr.sandbox.network import Network
from ivr.store.accounts import Role
from ivr.telephony import AiohttpTwilioClient, TwilioTelephony
from ivr.testing.caller import TOKEN, VERIFIED_PHONE
from ivr.testing.demo_line import make_settings
from ivr.web.app import create_app
from tests.agent_line import korean_model, voicemail_audio
from tests.console import add_account, console_client, sign_in
from tests.sandbox_line import SandboxPhone, network, sandbox_line

AGENT_PHONE = "+15550100201"


async def test_a_caller_who_presses_0_is_bridged_with_the_agent_whose_sandbox_phone_takes_the_whisper(
    tmp_path: Path,
) -> None:
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        base = str(server.make_url("")).rstrip("/")
        desk = server.app[AGENT_LINE].desk
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        await desk.set_status("alex", AgentStatus.AVAILABLE)
        caller = SandboxPhone(session, base, VERIFIED_PHONE)
        agent = SandboxPhone(session, base, AGENT_PHONE)

        call = await caller.call_line()
        await caller.next_event("say", "Thanks for calling Acme")
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="3")  # not about the order the greeting offers
        await caller.next_event("say", "Tell me what you need")
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="2")
        await caller.next_event("say", "repair")
        await caller.act("keys", call=call, keys="3141#")
        await caller.next_event("say", "waiting for parts")
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="0")
        await caller.next_event("queued")

        ring = await agent.next_event("ringing", SANDBOX_NUMBER)
        await agent.act("answer", call=ring["call"])
        whisper = await agent.next_event("say", "3 1 4 1")
        assert whisper["call"] == ring["call"]
        await agent.next_event("listening")
        await agent.act("keys", call=ring["call"], keys="1")
        joined = await agent.next_event("conference")
        await caller.next_event("conference", "with " + AGENT_PHONE)
        entry_id = joined["text"].split()[2].removeprefix("entry-")
        entry = await desk.store.queue.get(entry_id)
        assert entry is not None and entry.state is EntryState.BRIDGED
        [alex] = await desk.agents()
        assert alex.status is AgentStatus.ON_CALL

        # the caller hangs up: the conference ends for the agent too, and the desk files the call
        await caller.act("hangup", call=call)
        await agent.next_event("ended")
        assert network(server).account.calls[call].status == "completed"
        # the line accepted every webhook the sandbox sent (a bad signature is a 403: an error event)
        for phone in (caller, agent):
            kinds = {event.kind for event in network(server).phone(phone.number).since(0)}
            assert "error" not in kinds, network(server).phone(phone.number).events


async def test_the_tracking_link_text_reaches_the_caller_s_sandbox_phone(tmp_path: Path) -> None:
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        caller = SandboxPhone(session, str(server.make_url("")).rstrip("/"), VERIFIED_PHONE)
        call = await caller.call_line()
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="1")  # yes: the order the greeting offers
        await caller.next_event("say", "has shipped with UPS")
        await caller.next_event("say", "To get the tracking link by text, press 1")
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="1")
        # the text is sent before the line confirms it
        text = await caller.next_event("text", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
        assert text["text"] == (
            f"{SANDBOX_NUMBER}: Acme: track order 4512 with UPS at"
            " https://www.ups.com/track?tracknum=1Z999AA10123456784"
        )
        await caller.next_event("say", "I've sent it by text")
        await caller.act("hangup", call=call)


async def test_a_caller_who_hangs_up_in_the_queue_leaves_the_desk(tmp_path: Path) -> None:
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        desk = server.app[AGENT_LINE].desk
        caller = SandboxPhone(session, str(server.make_url("")).rstrip("/"), VERIFIED_PHONE)
        call = await caller.ask_for_an_agent_about_repair("queued")
        [waiting] = (await desk.snapshot()).queue
        await caller.act("hangup", call=call)
        await caller.next_event("ended")
        for _ in range(300):  # the sandbox tells the queue's action URL: QueueResult=hangup
            entry = await desk.store.queue.get(waiting.id)
            if entry is not None and entry.state is EntryState.ABANDONED:
                break
            await asyncio.sleep(0.1)
        assert entry is not None and entry.state is EntryState.ABANDONED
        assert (await desk.snapshot()).queue == []


async def test_a_callback_is_placed_to_the_customer_sandbox_phone_after_the_agent_accepts(
    tmp_path: Path,
) -> None:
    async with (
        sandbox_line(tmp_path, IVR_CALLBACK_OFFER_AFTER="0") as server,
        ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        desk = server.app[AGENT_LINE].desk
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        await desk.set_status("alex", AgentStatus.BUSY)
        customer = SandboxPhone(session, base, VERIFIED_PHONE)
        agent = SandboxPhone(session, base, AGENT_PHONE)

        call = await customer.ask_for_an_agent_about_repair("queued")
        await customer.next_event("say", "To be called back instead of waiting, press 1")
        await customer.act("keys", call=call, keys="1")
        await customer.next_event("say", "We will call you back")
        await customer.next_event("ended")
        (callback,) = await desk.store.callbacks.listed(include_done=False)

        await desk.offers.take_callback("alex", callback.id)
        ring = await agent.next_event("ringing")
        await agent.act("answer", call=ring["call"])
        await agent.next_event("say", "Callback for")
        await agent.act("keys", call=ring["call"], keys="1")
        back = await customer.next_event("ringing", SANDBOX_NUMBER)
        await customer.act("answer", call=back["call"])
        await customer.next_event("conference", "with " + AGENT_PHONE)
        await agent.next_event("conference", VERIFIED_PHONE + " joined")


async def test_a_voicemail_recorded_on_a_sandbox_phone_reaches_the_desk_transcribed(tmp_path: Path) -> None:
    async with (
        sandbox_line(tmp_path, IVR_VOSK_MODEL=str(korean_model())) as server,
        ClientSession() as session,
    ):
        desk = server.app[AGENT_LINE].desk
        await desk.set_emergency_closed(True, "sam")  # closed: callers who ask for a person leave a message
        caller = SandboxPhone(session, str(server.make_url("")).rstrip("/"), VERIFIED_PHONE)
        call = await caller.ask_for_an_agent_about_repair("recording")
        async with session.post(
            f"{caller.base}/sandbox/phones/{VERIFIED_PHONE}/record",
            params={"call": call},
            data=voicemail_audio(),
            headers={"Content-Type": "audio/wav"},
        ) as sent:
            assert sent.status == 200
        for _ in range(900):  # fetched from the sandbox, then transcribed by the real Vosk
            tickets = await desk.store.voicemails.listed(include_done=False)
            if tickets and tickets[0].transcript:
                break
            await asyncio.sleep(0.1)
        assert tickets and tickets[0].transcript, "the voicemail was not transcribed"
        assert tickets[0].call_sid == call and dict(tickets[0].context)["ticket_number"] == "3141"


async def test_a_typed_voicemail_reaches_the_line_as_spoken_audio(tmp_path: Path) -> None:
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        desk = server.app[AGENT_LINE].desk
        await desk.set_emergency_closed(True, "sam")
        caller = SandboxPhone(session, str(server.make_url("")).rstrip("/"), VERIFIED_PHONE)
        call = await caller.ask_for_an_agent_about_repair("recording")
        await caller.act("say", call=call, text="Please call me about my espresso machine.")
        for _ in range(600):  # synthesised by the sandbox, then fetched by the line
            tickets = await desk.store.voicemails.listed(include_done=False)
            if tickets and tickets[0].audio_file:
                break
            await asyncio.sleep(0.1)
        assert tickets and tickets[0].audio_file, "the voicemail's audio did not arrive"
        with wave.open(str(tmp_path / "voicemail" / tickets[0].audio_file)) as audio:
            assert audio.getnframes() > audio.getframerate()  # words, over a second of them


async def test_the_sandbox_takes_the_official_client_and_refuses_other_credentials() -> None:
    """Texts through the real `twilio` client reach the sandbox phone; a wrong token is a 401."""
    async with serving(TwilioAccount(TOKEN)) as account:
        sandbox = Network(account, line_url="https://support.example.test")
        http = AiohttpTwilioClient(10)  # the line's transport under the official client
        client = Client(SANDBOX_ACCOUNT_SID, TOKEN, http_client=http)
        client.api.base_url = account.api_base
        sent = await client.messages.create_async(
            to="+15550100001", from_=SANDBOX_NUMBER, body="Tracking: 1Z"
        )
        assert sent.sid.startswith("SM") and sent.status == "queued"
        [text] = sandbox.phone("+15550100001").since(0)
        assert text.kind == "text" and "Tracking: 1Z" in text.text
        wrong = Client(SANDBOX_ACCOUNT_SID, "not-the-token", http_client=http)
        wrong.api.base_url = account.api_base
        with pytest.raises(TwilioRestException) as refused:
            await wrong.messages.create_async(to="+15550100001", from_=SANDBOX_NUMBER, body="x")
        assert refused.value.status == 401
        assert len(sandbox.phone("+15550100001").since(0)) == 1
        await http.close()


async def test_everything_the_sandbox_sends_is_signed_as_twilio_signs(tmp_path: Path) -> None:
    """A placed call, driven by a receiver that checks each request's signature with Twilio's validator."""
    received: list[tuple[str, bool]] = []
    replies = {
        "/voice/placed": '<Gather action="/voice/got" numDigits="1"><Say>Hi</Say></Gather>',
        "/voice/got": '<Record action="/voice/rec" recordingStatusCallback="/voice/recstatus"/>',
        "/voice/rec": "<Hangup/>",
    }
    all_reported = asyncio.Event()
    public = "https://support.example.test"

    async def receive(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = RequestValidator(TOKEN).validate(public + request.path_qs, form, signature)
        received.append((request.path, valid))
        if [path for path, _ in received].count("/voice/status") == 4:
            all_reported.set()
        twiml = f"<Response>{replies.get(request.path, '')}</Response>"
        return web.Response(text=twiml, content_type="text/xml")

    receiver = web.Application()
    receiver.router.add_post("/voice/{name}", receive)
    async with TestServer(receiver, host="127.0.0.1") as line, serving(TwilioAccount(TOKEN)) as account:
        account.deliver_to(public, str(line.make_url("")))
        sandbox = Network(account, line_url=public)
        telephony = TwilioTelephony(
            account_sid=SANDBOX_ACCOUNT_SID,
            auth_token=TOKEN,
            from_number=SANDBOX_NUMBER,
            api_base=account.api_base,
        )
        sid = await telephony.place_call(
            AGENT_PHONE, f"{public}/voice/placed", status_callback=f"{public}/voice/status"
        )
        await telephony.aclose()
        sandbox.answer(AGENT_PHONE, sid)
        phone = sandbox.phone(AGENT_PHONE)
        await phone.wait(0, 10)
        sandbox.press(AGENT_PHONE, sid, "1")
        sandbox.record(AGENT_PHONE, sid, voicemail_audio())
        async with asyncio.timeout(30):
            await all_reported.wait()
        await sandbox.aclose()
    assert all(valid for _, valid in received), received
    paths = [path for path, _ in received]
    assert {"/voice/placed", "/voice/got", "/voice/rec", "/voice/recstatus"} <= set(paths), paths
    assert paths.count("/voice/status") == 4, "initiated, ringing, answered and completed"


async def test_a_call_placed_with_machine_detection_is_told_who_answered() -> None:
    """`MachineDetection` on a placed call: the first TwiML fetch says `AnsweredBy`, as Twilio's does."""
    fetched: list[dict[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        fetched.append({k: str(v) for k, v in (await request.post()).items()})
        return web.Response(text="<Response><Hangup/></Response>", content_type="text/xml")

    receiver = web.Application()
    receiver.router.add_post("/voice/placed", receive)
    public = "https://support.example.test"
    async with TestServer(receiver, host="127.0.0.1") as line, serving(TwilioAccount(TOKEN)) as account:
        account.deliver_to(public, str(line.make_url("")))
        sandbox = Network(account, line_url=public)
        http = AiohttpTwilioClient(10)
        client = Client(SANDBOX_ACCOUNT_SID, TOKEN, http_client=http)
        client.api.base_url = account.api_base
        placed = await client.calls.create_async(
            to=AGENT_PHONE, from_=SANDBOX_NUMBER, url=f"{public}/voice/placed", machine_detection="Enable"
        )
        await http.close()
        sandbox.answer(AGENT_PHONE, placed.sid, "machine_start")
        phone = sandbox.phone(AGENT_PHONE)
        async with asyncio.timeout(30):
            while not any(event.kind == "ended" for event in phone.since(0)):
                await phone.wait(max(event.id for event in phone.since(0)), 5)
        await sandbox.aclose()
    assert [f.get("AnsweredBy") for f in fetched] == ["machine_start"]


def test_the_line_refuses_to_start_with_both_a_real_account_and_the_sandbox() -> None:
    real = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_TELEPHONY": "sandbox", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32}
    with pytest.raises(ConfigError, match="cannot run with a real Twilio account"):
        Settings.from_env(real)
    sandbox = Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN, "IVR_TELEPHONY": "sandbox"})
    assert (sandbox.account_sid, sandbox.phone_number) == (SANDBOX_ACCOUNT_SID, SANDBOX_NUMBER)


async def test_the_dev_phone_needs_sign_in_and_speaks_only_what_the_line_said_to_that_number(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    async with sandbox_line(tmp_path) as server:
        client = await console_client(aiohttp_client, server)
        anonymous = await client.get(f"/console/phone/{AGENT_PHONE}", allow_redirects=False)
        assert anonymous.status == 303 and "/console/login" in anonymous.headers["Location"]
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        csrf = await sign_in(client, "alex")
        listing = await (await client.get("/console/phone")).text()
        assert f"/console/phone/{AGENT_PHONE}" in listing and "(your phone)" in listing
        sandbox = network(server)
        sandbox.phone(VERIFIED_PHONE).emit("CA1", "say", "Your order has shipped.")
        said = sandbox.phone(VERIFIED_PHONE).since(0)[0].id
        headers = {"X-CSRF-Token": csrf}
        elsewhere = await client.post(
            f"/console/phone/{AGENT_PHONE}/listen", json={"event": said}, headers=headers
        )
        assert elsewhere.status == 404, "words said to another number are not spoken here"
        no_csrf = await client.post(f"/console/phone/{VERIFIED_PHONE}/listen", json={"event": said})
        assert no_csrf.status == 403


async def test_an_agent_opens_only_their_own_dev_phone_and_a_supervisor_any(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    """What the line told a customer (their order, its tracking digits) is not every agent's to hear."""
    async with sandbox_line(tmp_path) as server:
        await add_account(server.app, "alex", Role.AGENT, phone=AGENT_PHONE)
        await add_account(server.app, "jonas", Role.AGENT, phone="+15550100202")
        await add_account(server.app, "maria", Role.SUPERVISOR)
        sandbox = network(server)
        sandbox.phone(VERIFIED_PHONE).emit("CA1", "say", "Your order has shipped.")
        said = sandbox.phone(VERIFIED_PHONE).since(0)[0].id
        agent = await console_client(aiohttp_client, server)
        headers = {"X-CSRF-Token": await sign_in(agent, "alex")}
        assert (await agent.get(f"/console/phone/{AGENT_PHONE}")).status == 200
        for other in (VERIFIED_PHONE, "+15550100202"):
            assert (await agent.get(f"/console/phone/{other}")).status == 403
        listen = await agent.post(
            f"/console/phone/{VERIFIED_PHONE}/listen", json={"event": said}, headers=headers
        )
        assert listen.status == 403
        listing = await (await agent.get("/console/phone")).text()
        assert f"/console/phone/{AGENT_PHONE}" in listing
        assert f"/console/phone/{VERIFIED_PHONE}" not in listing
        assert "/console/phone/+15550100202" not in listing
        supervisor = await console_client(aiohttp_client, server)
        await sign_in(supervisor, "maria")
        assert (await supervisor.get(f"/console/phone/{VERIFIED_PHONE}")).status == 200
        assert f"/console/phone/{VERIFIED_PHONE}" in await (await supervisor.get("/console/phone")).text()


async def test_without_the_sandbox_the_dev_phone_says_how_to_start_it(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await console_client(aiohttp_client, create_app(make_settings(tmp_path)))
    await add_account(client.app, "alex", Role.AGENT, phone=AGENT_PHONE)
    await sign_in(client, "alex")
    page = await client.get(f"/console/phone/{AGENT_PHONE}")
    assert page.status == 404 and "ivr sandbox" in await page.text()
    api = await client.get(f"/sandbox/phones/{AGENT_PHONE}/events")
    assert api.status == 404, "no sandbox routes unless chosen"


async def test_with_a_single_agent_number_the_sandbox_still_carries_texts_and_calls(tmp_path: Path) -> None:
    """IVR_AGENT_NUMBER means no agent desk; the sandbox network was built with the desk, so
    texts and campaign calls went to the real Twilio API with the sandbox's credentials."""
    async with (
        sandbox_line(tmp_path, IVR_AGENT_NUMBER=AGENT_PHONE) as server,
        ClientSession() as session,
    ):
        caller = SandboxPhone(session, str(server.make_url("")).rstrip("/"), VERIFIED_PHONE)
        call = await caller.call_line()
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="1")  # yes: the order the greeting offers
        await caller.next_event("say", "To get the tracking link by text, press 1")
        await caller.next_event("listening")
        await caller.act("keys", call=call, keys="1")
        await caller.next_event("text", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
        await caller.next_event("say", "I've sent it by text")
        await caller.act("hangup", call=call)
        sent = [r for r in network(server).account.requests if r.path.endswith("/Messages.json")]
        assert sent and all(r.authorized for r in sent), "the text went through the sandbox's account"


async def test_the_phone_api_refuses_other_host_names_and_proxied_requests(tmp_path: Path) -> None:
    """DNS rebinding (a page at attacker.example resolving to 127.0.0.1 sends its own Host)
    and a proxy on this machine (its peer address is loopback, the sender's is not)."""
    async with sandbox_line(tmp_path) as server, ClientSession() as session:
        port = server.port
        url = str(server.make_url(f"/sandbox/phones/{VERIFIED_PHONE}/call"))
        refused = [
            {"Host": "attacker.example"},
            {"Host": f"attacker.example:{port}"},
            {"Host": "127.0.0.1.attacker.example"},
            {"Host": "[::1"},
            {"X-Forwarded-For": "203.0.113.9"},
            {"Forwarded": "for=203.0.113.9"},
            {"X-Real-IP": "203.0.113.9"},
        ]
        for headers in refused:
            async with session.post(url, json={}, headers=headers) as reply:
                assert reply.status in (403, 421), f"{headers}: {reply.status}"
                assert await reply.text()
        assert not network(server).account.calls, "no call was placed"
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "support.example.test"):
            async with session.post(url, json={}, headers={"Host": host}) as reply:
                assert reply.status == 201, f"{host}: {reply.status} {await reply.text()}"
