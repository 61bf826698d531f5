"""Texts a caller asks for (tracking link, return label): sent with the official `twilio` client
through Twilio's Messaging API, here the local REST fake, only to the caller's own number, noted
in the call record; never offered without the line's Twilio account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES

JANE = "+15550100001"  # on order 4512, shipped with UPS, tracking 1Z999AA10123456784
OFFER = "To get the tracking link by text, press 1. Otherwise, press 2."


async def line(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount) -> TestClient:
    settings = make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=twilio.api_base,
        IVR_AGENT_NUMBER="+15550123456",  # a plain <Dial> line: texts need no agent desk
    )
    await load_demo_data(settings)
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    return client


async def order_4512(client: TestClient, phone: str = JANE) -> tuple[Caller, list[str]]:
    caller = Caller(client, phone=phone)
    await caller.dial_to_menu()
    await caller.press("1")
    return caller, (await caller.press("4512")).heard


async def test_a_verified_caller_gets_the_tracking_link_by_text(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, heard = await order_4512(client)
    assert heard[1].startswith("Order 4 5 1 2 has shipped with UPS")
    assert heard[2] == OFFER
    sent = await caller.press("1")
    assert sent.heard[0] == "Done. I've sent it by text to the number you're calling from."
    assert "Anything else?" in sent.text  # and the call goes on
    (message,) = twilio.messages
    assert (message.to, message.from_) == (JANE, LINE_NUMBER)
    assert (
        message.body
        == "Acme: track order 4512 with UPS at https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    again = await caller.press("1")  # hear the status again: the link is not offered twice
    assert OFFER not in again.text
    await caller.hang_up()
    record = await client.app[STORES].calls.get_call(caller.call_sid)
    assert record is not None
    assert f"text sent: tracking to the caller's number ({message.sid})" in [
        e.text for e in record.transcript
    ]


async def test_a_caller_may_decline_the_text(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, _ = await order_4512(client)
    declined = await caller.press("2")
    assert "Anything else?" in declined.text
    assert not twilio.messages


async def test_a_failed_text_is_an_apology_and_noted(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, _ = await order_4512(client)
    twilio.fail_next(1, 500)
    failed = await caller.press("1")
    assert failed.heard[0] == "I'm sorry, I couldn't send the text just now."
    assert "Anything else?" in failed.text
    await caller.hang_up()
    record = await client.app[STORES].calls.get_call(caller.call_sid)
    assert record is not None and "text not sent: tracking (TelephonyError)" in [
        e.text for e in record.transcript
    ]


async def test_no_text_is_offered_to_a_withheld_number(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, heard = await order_4512(client, phone="anonymous")
    assert "postal code" in " ".join(heard)
    status = await caller.press("94107")  # verified by the postal code, but there is no number to text
    assert status.heard[1].startswith("Order 4 5 1 2 has shipped with UPS")
    assert OFFER not in status.text and "Anything else?" in status.text


async def test_the_returns_answer_offers_a_return_label_by_text(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller = Caller(client, phone="+15550199999")
    await caller.dial_to_menu()
    await caller.press("4")
    answer = await caller.press("1")
    assert answer.heard[0].startswith("You can return or exchange any product within 30 days")
    assert answer.heard[1] == "To get a return label by text message, press 1. Otherwise, press 2."
    sent = await caller.press("1")
    assert sent.heard[0] == "Done. I've sent it by text to the number you're calling from."
    (message,) = twilio.messages
    assert message.to == "+15550199999" and "https://www.acme.example/returns" in message.body


async def test_without_the_line_s_twilio_account_no_text_is_offered(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    status = await caller.press("4512")
    assert OFFER not in status.text and "Anything else?" in status.text
    await caller.press("3")  # main menu
    await caller.press("4")
    returns = await caller.press("1")
    assert "by text" not in returns.text


async def test_repeat_after_the_text_offer_says_the_order_status_again(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    """The answer is what a caller wants again, not the offer nor "Anything else?"."""
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, _ = await order_4512(client)
    again = await caller.say("repeat")
    assert again.heard[1].startswith("Order 4 5 1 2 has shipped with UPS")
    assert again.heard[-1] == OFFER
    declined = await caller.press("2")
    assert declined.heard[-1].startswith("Anything else?")
    once_more = await caller.say("can you repeat that please")
    assert once_more.heard[1].startswith("Order 4 5 1 2 has shipped with UPS")
    sent = await caller.press("1")
    assert sent.heard[0] == "Done. I've sent it by text to the number you're calling from."
    last = await caller.press("*")  # past "I've sent it": the status
    assert any(line.startswith("Order 4 5 1 2 has shipped with UPS") for line in last.heard)
