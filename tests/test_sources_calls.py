"""Whole calls over the real app whose orders come from a shop on loopback (IVR_SOURCES).

What a caller hears is what the shop says now: change the shop's data and the next call
hears the new status. A shop that is slow, failing or gone costs the caller at most the
budget and half a second before an honest sentence in their language and an agent; the
caller-ID greeting becomes the plain one. The operator sees each source on `/metrics`,
and nothing the shop returned in the logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.store.accounts import Role
from ivr.testing.caller import VERIFIED_PHONE, Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.testing.fake_shop import (
    API_TOKEN,
    SHOPIFY_TOKEN,
    WOO_KEY,
    WOO_SECRET,
    FakeShop,
    Trouble,
    refused_url,
    shopify_order,
    woo_order,
)
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import add_account, console_client, sign_in

BUDGET = 2.0
"""The shipped Shopify preset's time budget per lookup."""
SLACK = 0.5


@pytest.fixture
async def shop() -> AsyncIterator[FakeShop]:
    fake = FakeShop()
    await fake.start()
    fake.shopify[4512] = shopify_order(4512, VERIFIED_PHONE, "fulfilled", shipment="out_for_delivery")
    yield fake
    await fake.stop()


SHOPIFY = ROOT / "sources" / "shopify.yaml"


async def shopify_line(
    aiohttp_client: Callable, tmp_path: Path, store_url: str, preset: Path = SHOPIFY, **env: str
) -> TestClient:
    settings = make_settings(
        tmp_path,
        IVR_SOURCES=str(preset),
        SHOPIFY_STORE_URL=store_url,
        SHOPIFY_ACCESS_TOKEN=SHOPIFY_TOKEN,
        **env,
    )
    await load_demo_data(settings)  # the local tables say 4512 "has shipped": the shop must win
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    return client


async def test_the_next_call_hears_what_the_shop_says_now(
    aiohttp_client: Callable, tmp_path: Path, shop: FakeShop, caplog: pytest.LogCaptureFixture
) -> None:
    client = await shopify_line(aiohttp_client, tmp_path, shop.url)
    caplog.set_level(logging.DEBUG)
    first = Caller(client)
    welcome = await first.dial()
    assert "Are you calling about order 4 5 1 2, which is out for delivery?" in welcome.heard
    status = await first.say("yes please")
    assert status.heard[0].startswith("Order 4 5 1 2 is out for delivery today with UPS")
    await first.hang_up()

    shop.shopify[4512] = shopify_order(4512, VERIFIED_PHONE, "fulfilled", shipment="delivered")
    second = Caller(client)
    welcome = await second.dial()  # a delivered order is not offered; the open local repair is
    assert "order 4 5 1 2" not in welcome.text
    await second.say("something else")
    await second.press("1")
    turn = await second.press("4512")
    assert turn.heard[0] == "Thanks, Jane Doe."
    assert turn.heard[1].startswith("Order 4 5 1 2 was delivered")

    logged = " ".join(r.getMessage() for r in caplog.records)
    assert VERIFIED_PHONE not in logged and "Jane" not in logged and "UPS" not in logged


@pytest.mark.parametrize("trouble", ["slow", "error", "refused"])
async def test_a_shop_that_does_not_answer_is_said_plainly_within_the_budget(
    aiohttp_client: Callable, tmp_path: Path, shop: FakeShop, trouble: str
) -> None:
    if trouble == "slow":
        shop.always = Trouble(delay=5)
    elif trouble == "error":
        shop.always = Trouble(status=500)
    url = refused_url() if trouble == "refused" else shop.url
    client = await shopify_line(aiohttp_client, tmp_path, url)
    caller = Caller(client)

    started = time.perf_counter()
    welcome = await caller.dial()
    assert time.perf_counter() - started < BUDGET + SLACK
    assert "Are you calling about" not in welcome.text and "Hi " not in welcome.text  # the plain greeting
    assert "Tell me what you need" in welcome.text

    await caller.press("1")
    started = time.perf_counter()
    turn = await caller.press("4512")
    assert time.perf_counter() - started < BUDGET + SLACK
    assert turn.heard == [
        "I'm sorry, I can't reach our order system right now.",
        "An agent can check it for you. To speak with an agent, press 1."
        " To go back to the main menu, press 2.",
    ]
    handed = await caller.press("1")
    assert handed.handoff is not None


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("de", "Unser Bestellsystem ist gerade leider nicht erreichbar."),
        ("sv", "Tyvärr når jag inte vårt ordersystem just nu."),
    ],
)
async def test_the_sentence_is_said_in_the_callers_language(
    aiohttp_client: Callable, tmp_path: Path, shop: FakeShop, language: str, sentence: str
) -> None:
    shop.always = Trouble(status=500)
    client = await shopify_line(
        aiohttp_client,
        tmp_path,
        shop.url,
        IVR_LANGUAGES="en,de,sv",
        IVR_NUMBER_LANGUAGES=f"+15550009999={language}",
    )
    caller = Caller(client)
    await caller.dial()
    await caller.press("1")
    turn = await caller.press("4512")
    assert turn.heard[0] == sentence
    assert turn.gather is not None


async def test_the_breaker_spares_callers_the_wait_and_metrics_show_each_source(
    aiohttp_client: Callable, tmp_path: Path, shop: FakeShop
) -> None:
    shop.always = Trouble(delay=5)
    preset = tmp_path / "shopify.yaml"  # the shipped preset, with a breaker that opens sooner
    text = SHOPIFY.read_text()
    preset.write_text(text.replace("timeout: 2\n", "timeout: 1\nbreaker: {failures: 2, open_for: 600}\n"))
    client = await shopify_line(aiohttp_client, tmp_path, shop.url, preset)
    # Two calls: each greeting's customer lookup and each order lookup time out ...
    for _ in range(2):
        caller = Caller(client)
        await caller.dial()
        await caller.press("1")
        await caller.press("4512")
    asked = len(shop.requests)
    # ... and then orders rests: the next caller hears the sentence at once, and the shop is not asked.
    caller = Caller(client)
    await caller.dial()
    await caller.press("1")
    started = time.perf_counter()
    turn = await caller.press("4512")
    assert time.perf_counter() - started < SLACK
    assert turn.heard[0] == "I'm sorry, I can't reach our order system right now."
    assert not any("/orders.json?name=" in r for r in shop.requests[asked:])

    metrics = await (await client.get("/metrics")).text()
    assert 'ivr_source_breaker{source="orders"} 2.0' in metrics
    assert 'ivr_source_lookups_total{outcome="timeout",source="orders"} 2.0' in metrics
    assert 'ivr_source_lookups_total{outcome="open",source="orders"} 1.0' in metrics
    assert 'ivr_source_breaker{source="customers.orders"} 2.0' in metrics
    assert 'ivr_source_seconds_count{source="customers.orders"} 2.0' in metrics


OWN_API = """
repairs:
  base_url: ${ACME_API_URL}
  auth: {bearer: ACME_API_TOKEN}
  request: /repairs/{ticket_number}
  record: $.repair
  fields:
    ticket_number: $.ticket
    phone: $.customer.phone
    product: $.product.name
    status: {from: $.state, values: {ready: ready_for_pickup, awaiting_parts: waiting_for_parts}}
    updated_on: $.updated_at
warranties:
  base_url: ${ACME_API_URL}
  auth: {bearer: ACME_API_TOKEN}
  request: /warranties/{serial_number}
  record: $.warranty
  fields:
    serial_number: $.serial_number
    order_number: $.order_number
    product: $.product.name
    expires_on: $.expires_at
    plan: $.plan
"""


async def test_order_repair_and_warranty_from_woocommerce_and_the_company_api(
    aiohttp_client: Callable, tmp_path: Path, shop: FakeShop
) -> None:
    shop.woo[4512] = woo_order(4512, VERIFIED_PHONE, "processing")  # the local tables: shipped
    shop.repairs["3141"] = {  # the local tables: waiting for parts
        "ticket": "3141",
        "customer": {"phone": VERIFIED_PHONE},
        "product": {"name": "espresso machine"},
        "state": "ready",
        "updated_at": "2026-11-22T16:00:00Z",
    }
    shop.warranties["100200300"] = {  # the local tables: covered until 2027
        "serial_number": "100200300",
        "order_number": "4512",
        "product": {"name": "espresso machine"},
        "expires_at": "2026-01-15",
        "plan": "standard",
    }
    sources = tmp_path / "sources.yaml"
    sources.write_text((ROOT / "sources" / "woocommerce.yaml").read_text() + OWN_API)
    settings = make_settings(
        tmp_path,
        IVR_SOURCES=str(sources),
        WOOCOMMERCE_URL=shop.url,
        WOOCOMMERCE_KEY=WOO_KEY,
        WOOCOMMERCE_SECRET=WOO_SECRET,
        ACME_API_URL=f"{shop.url}/api",
        ACME_API_TOKEN=API_TOKEN,
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))

    order = Caller(client)
    welcome = await order.dial()
    assert "Are you calling about order 4 5 1 2, which is being prepared?" in welcome.heard
    status = await order.say("yes")
    assert status.heard[0].startswith("Order 4 5 1 2 is being prepared for shipping")

    repair = Caller(client)
    await repair.dial_to_menu()
    await repair.press("2")
    turn = await repair.press("3141")
    assert turn.heard[0].startswith("Good news: repair 3 1 4 1")
    assert "espresso machine" in turn.heard[0] and "ready for pickup" in turn.heard[0]

    warranty = Caller(client)
    await warranty.dial_to_menu()
    await warranty.press("3")
    turn = await warranty.press("100200300")  # its order, read from the shop, is on this phone
    assert turn.heard[0].startswith(
        "The warranty on serial number 1 0 0 2 0 0 3 0 0, your espresso machine, ended on"
    )

    # The call record says which system answered each lookup (this test's file is sources.yaml).
    # A caller's own records by phone: orders from the file's `customers` lookup; its repairs
    # have none, so nobody finds them (the plain greeting, never stale local rows).
    by_phone = [
        "customers.orders looked up: answered by sources",
        "customers.repairs looked up: answered by nobody",
    ]
    for call, kinds in ((order, []), (repair, ["repairs"]), (warranty, ["warranties"])):
        session = await client.app[STORES].sessions.load(call.call_sid)
        assert session is not None
        notes = [
            entry.text for entry in session.transcript if entry.who == "flow" and "looked up" in entry.text
        ]
        assert notes == by_phone + [f"{kind} looked up: answered by sources" for kind in kinds]


async def test_the_local_tables_are_named_as_the_source_on_the_console_transcript(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    settings = make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=twilio.api_base,
    )
    await load_demo_data(settings)
    console = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    caller = Caller(console)
    await caller.dial_to_menu()
    await caller.press("2")
    await caller.press("3141")
    await add_account(console.app, "maria", Role.SUPERVISOR)
    await sign_in(console, "maria")
    page = await (await console.get(f"/console/agent/calls/{caller.call_sid}/transcript")).text()
    assert "repairs looked up: answered by local" in page


async def test_repairs_and_warranties_down_are_named_as_such(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(OWN_API)
    settings = make_settings(
        tmp_path, IVR_SOURCES=str(sources), ACME_API_URL=refused_url(), ACME_API_TOKEN=API_TOKEN
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial_to_menu()  # repairs by phone are not in the file: the plain greeting
    await caller.press("2")
    turn = await caller.press("3141")
    assert turn.heard[0] == "I'm sorry, I can't reach our repair system right now."
    back = await caller.press("2")  # the main menu, and on to warranties
    assert "Tell me what you need" in back.text
    await caller.press("3")
    turn = await caller.press("100200300")
    assert turn.heard[0] == "I'm sorry, I can't reach our warranty records right now."
    handed = await caller.press("1")
    assert handed.handoff is not None
