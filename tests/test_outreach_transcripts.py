"""Golden whole-call transcripts of the shipped campaign flows (reviewed as text): a follow-up
after a delivery, one after a repair, and the offer before a warranty ends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.store.callbacks import SqlCallbackStore
from ivr.importer import ImportKind, parse_text
from ivr.outreach.consent import parse_consent
from ivr.outreach.service import Outreach
from ivr.outreach.store import OutreachStore
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.testing.caller import PUBLIC_URL, TOKEN
from tests.outreach_line import (
    HEADER,
    JANE,
    ORDERS,
    REVIEW_URL,
    Clock,
    import_customers,
    outreach_app,
    outreach_of,
    outreach_settings,
    press,
    transcript,
)


@pytest.fixture
async def twilio() -> AsyncIterator[OutboundAccount]:
    async with running_outbound_account(TOKEN) as account:
        yield account


async def line(
    aiohttp_client: Callable,
    tmp_path: Path,
    twilio: OutboundAccount,
    campaign: str,
    orders: str = ORDERS,
    **env: str,
) -> Outreach:
    settings = outreach_settings(tmp_path, twilio, **env)
    await import_customers(settings.database_url, orders)
    clock = Clock()
    client: TestClient = await aiohttp_client(outreach_app(settings, clock))
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    outreach = outreach_of(client.app)
    await outreach.store.set_enabled(campaign, True, "test", clock())
    return outreach


async def call(outreach: Outreach, twilio: OutboundAccount, campaign: str, *keys: str) -> str:
    return (await conversation(outreach, twilio, campaign, *keys))[0]


async def conversation(
    outreach: Outreach, twilio: OutboundAccount, campaign: str, *keys: str
) -> tuple[str, list[str]]:
    """The call's transcript, and each TwiML the customer's phone was given."""
    [sid] = (await outreach.run_round(campaign)).placed
    assert twilio.calls[sid].to == JANE
    twimls = [(await twilio.answer_as(sid, "human")).body]
    for key in keys:
        twimls.append(await press(twilio, sid, twimls[-1], key))
    await twilio.post_status(sid, "completed")
    session = await next(iter(outreach.lines.values())).sessions.load(sid)
    assert session is not None
    return transcript(session), twimls


async def test_delivery_followup_a_happy_customer(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    outreach = await line(aiohttp_client, tmp_path, twilio, "delivery-followup")
    assert await call(outreach, twilio, "delivery-followup", "5", "1") == "\n".join(
        [
            "flow: language: en",  # campaign calls speak the line's default language
            "bot: Hi Jane Doe, this is Acme. Your coffee machine was delivered on Friday, November 20.",
            "bot: How happy are you with it, from 1 to 5? You can press or say a number."
            " To never get these calls again, press 9.",
            "caller: pressed 5",
            "flow: record_score: happy",
            "bot: Thank you, we're glad to hear it! May we text you a link to share your experience?"
            " For yes, press 1. For no, press 2.",
            "caller: pressed 1",
            "flow: send_review_text: sent",
            "bot: Thanks! The text is on its way. Goodbye.",
        ]
    )


GERMAN_ORDERS = f"""{HEADER},contact_ok,language
5001,{JANE},Jana Schulz,10001,delivered,UPS,1Z1,2026-11-15,2026-11-16,2026-11-20,yes,de
"""
"""Jane's order, imported with `language` de: her calls are in German."""
GERMAN_REVIEWS = "https://reviews.example.com/acme-de"


async def test_delivery_followup_in_german_for_a_customer_whose_order_says_german(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    outreach = await line(
        aiohttp_client,
        tmp_path,
        twilio,
        "delivery-followup",
        GERMAN_ORDERS,
        IVR_LANGUAGES="en,de,sv",
        IVR_REVIEW_URL_DE=GERMAN_REVIEWS,
    )
    spoken, twimls = await conversation(outreach, twilio, "delivery-followup", "5", "1")
    assert spoken == "\n".join(
        [
            "flow: language: de",  # from the first word: the orders file said so
            # named in German, from the warranties file's product_de column
            "bot: Guten Tag, hier ist Acme. Ihre Bestellung (Kaffeemaschine) wurde am Freitag,"
            " dem 20. November geliefert.",
            "bot: Wie zufrieden sind Sie damit, von 1 bis 5? Drücken oder sagen Sie eine Zahl."
            " Wenn Sie keine solchen Anrufe mehr möchten, drücken Sie die 9.",
            "caller: pressed 5",
            "flow: record_score: happy",
            "bot: Vielen Dank, das freut uns! Dürfen wir Ihnen einen Link per SMS schicken, um Ihre"
            " Erfahrung zu teilen? Für ja drücken Sie die 1, für nein die 2.",
            "caller: pressed 1",
            "flow: send_review_text: sent",
            "bot: Danke! Die SMS ist unterwegs. Auf Wiederhören.",
        ]
    )
    # Every sentence the phone was given is spoken with the German voice, none asks for a language.
    says = [say for twiml in twimls for say in ET.fromstring(twiml).iter("Say")]
    assert says and {say.attrib.get("language") for say in says} == {"de-DE"}
    # The review text is in German and carries the German page, not IVR_REVIEW_URL.
    [text] = twilio.texts
    assert text.to == JANE and text.body.endswith(f" {GERMAN_REVIEWS}") and REVIEW_URL != GERMAN_REVIEWS
    assert text.body.startswith("Danke, dass Sie bei Acme gekauft haben!")


async def test_a_german_customers_answering_machine_hears_the_message_in_german(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    outreach = await line(
        aiohttp_client, tmp_path, twilio, "delivery-followup", GERMAN_ORDERS, IVR_LANGUAGES="en,de,sv"
    )
    [sid] = (await outreach.run_round("delivery-followup")).placed
    machine = ET.fromstring((await twilio.answer_as(sid, "machine_end_beep")).body)
    [message] = machine.iter("Say")
    assert message.attrib["language"] == "de-DE"
    assert (message.text or "").startswith(
        "Guten Tag, hier ist Acme mit einer Nachricht für Jana Schulz. Wir möchten wissen, ob mit"
        " Ihrem Kauf (Kaffeemaschine) alles in Ordnung ist."
    )


async def test_delivery_followup_an_unhappy_customer(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    outreach = await line(aiohttp_client, tmp_path, twilio, "delivery-followup")
    assert await call(outreach, twilio, "delivery-followup", "2", "1") == "\n".join(
        [
            "flow: language: en",  # campaign calls speak the line's default language
            "bot: Hi Jane Doe, this is Acme. Your coffee machine was delivered on Friday, November 20.",
            "bot: How happy are you with it, from 1 to 5? You can press or say a number."
            " To never get these calls again, press 9.",
            "caller: pressed 2",
            "flow: record_score: unhappy",
            "bot: I'm sorry it wasn't better. For a call from our team to put it right, press 1."
            " Otherwise, press 2.",
            "caller: pressed 1",
            "flow: request_callback: created",
            "bot: Thank you. Someone from our team will call you soon. Goodbye.",
        ]
    )


async def test_repair_followup(aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount) -> None:
    outreach = await line(aiohttp_client, tmp_path, twilio, "repair-followup")
    repairs = "ticket_number,serial_number,phone,product,status,updated_on,eta,contact_ok\n"
    repairs += f"3141,88001,{JANE},espresso machine,shipped_back,2026-11-20,,yes\n"
    await outreach_repository_import(outreach, repairs)
    assert await call(outreach, twilio, "repair-followup", "4", "2") == "\n".join(
        [
            "flow: language: en",  # campaign calls speak the line's default language
            "bot: Hi Jane Doe, this is Acme. Your repair of your espresso machine was completed"
            " on Friday, November 20.",
            "bot: How happy are you with it, from 1 to 5? You can press or say a number."
            " To never get these calls again, press 9.",
            "caller: pressed 4",
            "flow: record_score: happy",
            "bot: Thank you, we're glad to hear it! May we text you a link to share your experience?"
            " For yes, press 1. For no, press 2.",
            "caller: pressed 2",
            "bot: Thanks for your time. Goodbye.",
        ]
    )


async def outreach_repository_import(outreach: Outreach, repairs: str) -> None:
    """What `ivr import repairs` writes, into the running line's database."""
    line = next(iter(outreach.lines.values()))
    engine = (await line.flows.current()).engine
    await engine.repository.upsert(parse_text(ImportKind.REPAIRS, repairs, "repairs.csv"))
    await OutreachStore(outreach.sql).save_consent(
        "repairs", parse_consent(ImportKind.REPAIRS, repairs, "repairs.csv")
    )


async def test_warranty_expiry_a_customer_who_wants_the_plan(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    outreach = await line(aiohttp_client, tmp_path, twilio, "warranty-expiry")
    assert await call(outreach, twilio, "warranty-expiry", "1", "1") == "\n".join(
        [
            "flow: language: en",  # campaign calls speak the line's default language
            "bot: Hi Jane Doe, this is Acme. The warranty on your toaster ends on Sunday, December 20.",
            "bot: To hear about our extended plan or to be called by our team, press 1. Otherwise, press 2."
            " To never get these calls again, press 9.",
            "caller: pressed 1",
            "bot: The extended plan covers parts and labour for up to three more years. For a call from our"
            " team to add it, press 1. Otherwise, press 2.",
            "caller: pressed 1",
            "flow: request_callback: created",
            "bot: Thank you. Someone from our team will call you soon. Goodbye.",
        ]
    )
    [callback] = await SqlCallbackStore(outreach.sql, clock=outreach.clock).listed(include_done=False)
    assert (callback.reason, callback.context["serial_number"]) == ("campaign_callback", "88002")
