"""ivr.telephony: the real TwilioTelephony, through the official client, against the Twilio fake.

Every request crosses real loopback HTTP; the sandbox account records what arrived, so these tests
check what Twilio would have been asked to do, and how each of Twilio's refusals and
outages reaches the line.
"""

from __future__ import annotations

import socket
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from io import BytesIO
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from ivr.config import ConfigError, Settings
from ivr.logs import mask_phone
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.telephony import STATUS_EVENTS, TelephonyError, TelephonyErrorCode, TwilioTelephony
from ivr.testing.caller import PUBLIC_URL, TOKEN
from ivr.testing.demo_line import make_settings

AGENT = "+15550107777"
CUSTOMER = "+15550100001"
WHISPER_URL = f"{PUBLIC_URL}/voice/agent/whisper?call=CA1"
STATUS_URL = f"{PUBLIC_URL}/voice/agent/status"


def line_settings(tmp_path: Path, api_base: str, **env: str) -> Settings:
    line = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_PHONE_NUMBER": LINE_NUMBER}
    line["TWILIO_API_BASE"] = api_base
    return make_settings(tmp_path, **(line | env))


@pytest.fixture
async def telephony(twilio: TwilioAccount, tmp_path: Path) -> AsyncIterator[TwilioTelephony]:
    line = TwilioTelephony.from_settings(line_settings(tmp_path, twilio.api_base))
    yield line
    await line.aclose()


def voicemail_wav() -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * 64)
    return buffer.getvalue()


async def test_place_call_asks_twilio_to_ring_the_agent_from_the_line(
    twilio: TwilioAccount, telephony: TwilioTelephony
) -> None:
    sid = await telephony.place_call(AGENT, WHISPER_URL, status_callback=STATUS_URL, ring_seconds=20)

    (request,) = twilio.requests_to("/Calls.json")
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert request.authorized
    assert request.get("To") == AGENT
    assert request.get("From") == LINE_NUMBER
    assert request.get("Url") == WHISPER_URL
    assert request.get("Method") == "POST"
    assert request.get("StatusCallback") == STATUS_URL
    assert request.get("StatusCallbackMethod") == "POST"
    assert request.getall("StatusCallbackEvent") == list(STATUS_EVENTS)
    assert request.get("Timeout") == "20"
    assert sid.startswith("CA") and twilio.calls[sid].to == AGENT


async def test_placed_call_hears_back_from_twilio_with_signed_status_callbacks(
    twilio: TwilioAccount,
    telephony: TwilioTelephony,
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    """The fake's callbacks are ones the line's signature check accepts, for every event asked for."""
    heard: list[tuple[str, bool]] = []

    async def status(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        valid = RequestValidator(TOKEN).validate(
            STATUS_URL, form, request.headers.get("X-Twilio-Signature", "")
        )
        heard.append((form["CallStatus"], valid))
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/voice/agent/status", status)
    server = await aiohttp_server(app)
    twilio.deliver_to(PUBLIC_URL, str(server.make_url("")))

    sid = await telephony.place_call(AGENT, WHISPER_URL, status_callback=STATUS_URL)
    for event in ("initiated", "ringing", "no-answer"):
        assert (await twilio.post_status(sid, event)).status == 200

    assert heard == [("initiated", True), ("ringing", True), ("no-answer", True)]


async def test_redirect_moves_a_live_caller_to_new_twiml(
    twilio: TwilioAccount, telephony: TwilioTelephony
) -> None:
    caller = twilio.add_live_call(from_=CUSTOMER, url=f"{PUBLIC_URL}/voice")
    conference = f"{PUBLIC_URL}/voice/agent/conference?room=r1"

    await telephony.redirect_call(caller, conference)

    (request,) = twilio.requests_to(f"/Calls/{caller}.json")
    assert (request.get("Url"), request.get("Method")) == (conference, "POST")
    assert twilio.calls[caller].redirects == [conference]


async def test_redirecting_a_call_that_already_ended_is_refused_and_not_retryable(
    twilio: TwilioAccount, telephony: TwilioTelephony
) -> None:
    caller = twilio.add_live_call(from_=CUSTOMER)
    twilio.calls[caller].status = "completed"  # the caller hung up while waiting

    with pytest.raises(TelephonyError) as caught:
        await telephony.redirect_call(caller, f"{PUBLIC_URL}/voice/agent/conference")

    error = caught.value
    assert (error.code, error.status, error.twilio_code) == (TelephonyErrorCode.REST_FAILED, 400, 21220)
    assert not error.retryable
    assert str(error).startswith("twilio_rest_failed: ")


@pytest.mark.parametrize(("answered", "ends_as"), [(False, "canceled"), (True, "completed")])
async def test_hang_up_ends_a_ringing_or_answered_call(
    twilio: TwilioAccount, telephony: TwilioTelephony, answered: bool, ends_as: str
) -> None:
    sid = await telephony.place_call(AGENT, WHISPER_URL, status_callback=STATUS_URL)
    twilio.calls[sid].status = "in-progress" if answered else "ringing"

    await telephony.hang_up(sid)

    (request,) = twilio.requests_to(f"/Calls/{sid}.json")
    assert request.get("Status") == "completed"
    assert twilio.calls[sid].status == ends_as


async def test_fetch_recording_downloads_the_wav_from_the_configured_api(
    twilio: TwilioAccount, telephony: TwilioTelephony
) -> None:
    audio = voicemail_wav()
    recording_url = twilio.add_recording(audio)
    assert recording_url.startswith("https://api.twilio.com/")  # as Twilio posts it

    assert await telephony.fetch_recording(recording_url) == audio
    (request,) = twilio.requests_to(".wav", method="GET")
    assert request.authorized
    assert request.path == recording_url.removeprefix("https://api.twilio.com") + ".wav"


async def test_missing_recording_is_a_fetch_error_with_its_status(
    twilio: TwilioAccount, telephony: TwilioTelephony
) -> None:
    gone = twilio.add_recording(b"RIFF")
    twilio.recordings.clear()

    with pytest.raises(TelephonyError) as caught:
        await telephony.fetch_recording(gone)

    assert (caught.value.code, caught.value.status) == (TelephonyErrorCode.RECORDING_FETCH_FAILED, 404)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/2010-04-01/Accounts/{account}/Recordings/RE1",
        "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/RE1",
        "https://api.twilio.com/2010-04-01/Accounts/{account}/Calls/CA1",
    ],
)
async def test_credentials_go_only_to_this_accounts_recordings(
    twilio: TwilioAccount, telephony: TwilioTelephony, url: str
) -> None:
    with pytest.raises(TelephonyError) as caught:
        await telephony.fetch_recording(url.format(account=ACCOUNT_SID))

    assert caught.value.code == TelephonyErrorCode.RECORDING_FETCH_FAILED
    assert not caught.value.retryable
    assert twilio.requests == []


async def test_wrong_credentials_are_an_auth_error_for_calls_and_recordings(
    twilio: TwilioAccount, tmp_path: Path
) -> None:
    settings = line_settings(tmp_path, twilio.api_base, TWILIO_AUTH_TOKEN="not-the-token")
    line = TwilioTelephony.from_settings(settings)
    try:
        with pytest.raises(TelephonyError) as placing:
            await line.place_call(AGENT, WHISPER_URL, status_callback=STATUS_URL)
        with pytest.raises(TelephonyError) as fetching:
            await line.fetch_recording(twilio.add_recording(voicemail_wav()))
    finally:
        await line.aclose()

    assert (placing.value.code, placing.value.status, placing.value.twilio_code) == (
        TelephonyErrorCode.AUTH_FAILED,
        401,
        20003,
    )
    assert (fetching.value.code, fetching.value.status) == (TelephonyErrorCode.AUTH_FAILED, 401)
    assert not placing.value.retryable and not fetching.value.retryable
    assert twilio.calls == {}


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_twilio_outage_is_a_retryable_error_and_the_retry_goes_through(
    twilio: TwilioAccount, telephony: TwilioTelephony, status: int
) -> None:
    twilio.fail_next(1, status=status)

    with pytest.raises(TelephonyError) as caught:
        await telephony.place_call(CUSTOMER, WHISPER_URL, status_callback=STATUS_URL)
    assert (caught.value.code, caught.value.status) == (TelephonyErrorCode.REST_FAILED, status)
    assert caught.value.retryable
    assert twilio.calls == {}

    sid = await telephony.place_call(CUSTOMER, WHISPER_URL, status_callback=STATUS_URL)
    assert list(twilio.calls) == [sid]


async def test_recording_outage_is_retryable(twilio: TwilioAccount, telephony: TwilioTelephony) -> None:
    audio = voicemail_wav()
    url = twilio.add_recording(audio)
    twilio.fail_next(1, status=500)

    with pytest.raises(TelephonyError) as caught:
        await telephony.fetch_recording(url)
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        TelephonyErrorCode.RECORDING_FETCH_FAILED,
        500,
        True,
    )
    assert await telephony.fetch_recording(url) == audio


async def test_unreachable_api_is_a_retryable_error_without_status(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = TwilioTelephony.from_settings(line_settings(tmp_path, f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(TelephonyError) as caught:
            await line.hang_up("CA" + "0" * 32)
    finally:
        await line.aclose()

    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        TelephonyErrorCode.UNREACHABLE,
        None,
        True,
    )


async def test_twilios_error_text_reaches_the_log_with_phone_numbers_masked(
    twilio: TwilioAccount, tmp_path: Path
) -> None:
    """Twilio quotes numbers in its errors; the error the line logs must not."""
    wrong_caller_id = "+15550009999"
    settings = line_settings(tmp_path, twilio.api_base, TWILIO_PHONE_NUMBER=wrong_caller_id)
    line = TwilioTelephony.from_settings(settings)
    try:
        with pytest.raises(TelephonyError) as caught:
            await line.place_call(CUSTOMER, WHISPER_URL, status_callback=STATUS_URL)
    finally:
        await line.aclose()

    assert (caught.value.status, caught.value.twilio_code) == (400, 21210)
    assert "not yet verified" in str(caught.value)
    assert wrong_caller_id not in str(caught.value) and mask_phone(wrong_caller_id) in str(caught.value)


async def test_a_stalled_api_is_given_up_on_within_the_request_limit(twilio: TwilioAccount) -> None:
    line = TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_number=LINE_NUMBER,
        api_base=twilio.api_base,
        request_timeout=0.3,
    )
    caller = twilio.add_live_call(from_=CUSTOMER)
    twilio.stall_next(1, seconds=3)
    started = time.monotonic()
    try:
        with pytest.raises(TelephonyError) as caught:
            await line.redirect_call(caller, f"{PUBLIC_URL}/voice/agent/conference")
    finally:
        await line.aclose()

    assert time.monotonic() - started < 2
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        TelephonyErrorCode.UNREACHABLE,
        None,
        True,
    )


def test_settings_name_what_is_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID and TWILIO_PHONE_NUMBER"):
        TwilioTelephony.from_settings(make_settings(tmp_path))
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID"):
        make_settings(tmp_path, TWILIO_ACCOUNT_SID="AC123")
    with pytest.raises(ConfigError, match="TWILIO_PHONE_NUMBER"):
        make_settings(tmp_path, TWILIO_PHONE_NUMBER="5550001000")
    with pytest.raises(ConfigError, match="TWILIO_API_BASE"):
        make_settings(tmp_path, TWILIO_API_BASE="api.twilio.com")
    assert make_settings(tmp_path).api_base == "https://api.twilio.com"
