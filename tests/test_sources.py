"""Lookups over HTTP against a real shop on loopback: the shapes the presets read, and every
way a source fails a caller (404, 429, 5xx, slow, malformed, refused), the cache and the breaker.

The shop is `ivr.testing.fake_shop`, a real aiohttp server; the presets are the shipped files in
`sources/`. Times are asserted with wide margins (a busy 2-core machine), and the breaker's
clock is a number the test moves, never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from ivr.config import ConfigError
from ivr.logs import call_context
from ivr.records import Order, OrderStatus, Repair, RepairStatus, Warranty, WarrantyPlan
from ivr.sources.breaker import Breaker
from ivr.sources.client import HttpSources
from ivr.sources.paths import PathError, parse_path
from ivr.sources.spec import parse_sources_text
from ivr.store.base import SourceUnavailable
from ivr.testing.fake_shop import (
    API_TOKEN,
    HMAC_SECRET,
    SHOPIFY_TOKEN,
    WOO_KEY,
    WOO_SECRET,
    FakeShop,
    Trouble,
    refused_url,
    shopify_order,
    woo_order,
)
from ivr.yamlsource import SourceError

pytestmark = pytest.mark.inprocess
ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "sources"
PHONE = "+15550100001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Seen:
    """What `/metrics` would be told (`SourceObserver`)."""

    def __init__(self) -> None:
        self.lookups: list[tuple[str, str]] = []
        self.seconds: list[float] = []
        self.breaker: dict[str, str] = {}

    def source_lookup(self, source: str, outcome: str, seconds: float) -> None:
        self.lookups.append((source, outcome))
        self.seconds.append(seconds)

    def source_breaker(self, source: str, state: str) -> None:
        self.breaker[source] = state


@pytest.fixture
async def shop() -> AsyncIterator[FakeShop]:
    fake = FakeShop()
    await fake.start()
    yield fake
    await fake.stop()


def env_for(url: str) -> dict[str, str]:
    return {
        "SHOPIFY_STORE_URL": url,
        "SHOPIFY_ACCESS_TOKEN": SHOPIFY_TOKEN,
        "WOOCOMMERCE_URL": url,
        "WOOCOMMERCE_KEY": WOO_KEY,
        "WOOCOMMERCE_SECRET": WOO_SECRET,
        "ACME_API_URL": f"{url}/api",
        "ACME_API_TOKEN": API_TOKEN,
        "ACME_HMAC": HMAC_SECRET,
    }


async def opened(text: str, url: str, **kwargs: object) -> HttpSources:
    sources = HttpSources(parse_sources_text(text, "test.yaml"), env=env_for(url), **kwargs)  # type: ignore[arg-type]
    await sources.open()
    return sources


def preset(name: str, **replace: str) -> str:
    text = (PRESETS / f"{name}.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


# --- the shipped presets, in the shapes their systems document --------------------------------


async def test_shopify_orders_by_number_and_by_phone(shop: FakeShop) -> None:
    shop.shopify[4512] = shopify_order(4512, PHONE, "fulfilled", shipment="in_transit")
    shop.shopify[4513] = shopify_order(4513, PHONE, None)
    shop.shopify[4600] = shopify_order(4600, PHONE, "fulfilled", shipment="delivered", cancel="customer")
    sources = await opened(preset("shopify"), shop.url)
    try:
        order = await sources.one("orders", "4512")
        assert order == Order(
            "4512", PHONE, "Jane Doe", "94107", OrderStatus.SHIPPED, "UPS", "1Z2345",
            date(2026, 11, 20), date(2026, 11, 21), None,
        )  # fmt: skip
        unshipped = await sources.one("orders", "4513")
        assert isinstance(unshipped, Order) and unshipped.status is OrderStatus.PROCESSING
        cancelled = await sources.one("orders", "4600")
        assert isinstance(cancelled, Order) and cancelled.status is OrderStatus.CANCELLED
        assert await sources.one("orders", "9999") is None
        mine = await sources.records("customers.orders", PHONE)
        assert sorted(o.order_number for o in mine if isinstance(o, Order)) == ["4512", "4513", "4600"]
        assert await sources.records("customers.orders", "+15550199999") == []
        assert shop.requests[-3].startswith(
            "GET /admin/api/2024-10/customers/search.json?query=phone:%2B1555"
        )
    finally:
        await sources.close()


async def test_woocommerce_orders_by_number_and_by_phone_and_its_404(shop: FakeShop) -> None:
    shop.woo[727] = woo_order(727, PHONE, "completed", tracking="JD0123")
    shop.woo[728] = woo_order(728, PHONE, "on-hold")
    sources = await opened(preset("woocommerce"), shop.url)
    try:
        order = await sources.one("orders", "727")
        assert isinstance(order, Order)
        said = (order.status, order.carrier, order.tracking_number, order.customer_name, order.postal_code)
        assert said == (OrderStatus.SHIPPED, "DHL", "JD0123", "Jane Doe", "94107")
        held = await sources.one("orders", "728")
        assert isinstance(held, Order) and held.status is OrderStatus.RECEIVED and held.carrier == ""
        assert await sources.one("orders", "404") is None  # Woo's documented 404 body
        mine = await sources.records("customers.orders", PHONE)
        assert {o.order_number for o in mine if isinstance(o, Order)} == {"727", "728"}
    finally:
        await sources.close()


async def test_generic_repairs_and_warranties(shop: FakeShop) -> None:
    shop.repairs["3141"] = {
        "ticket": 3141,
        "serial_number": "100200300",
        "customer": {"phone": PHONE},
        "product": {"name": "espresso machine"},
        "state": "awaiting_parts",
        "updated_at": "2026-11-21T08:00:00Z",
        "expected_at": "2026-12-02",
    }
    shop.warranties["100200300"] = {
        "serial_number": "100200300",
        "order_number": "4512",
        "product": {"name": "espresso machine"},
        "purchased_at": "2025-01-15",
        "expires_at": "2027-01-15",
        "plan": "plus",
    }
    sources = await opened(preset("generic"), shop.url)
    try:
        assert await sources.one("repairs", "3141") == Repair(
            "3141", "100200300", PHONE, "espresso machine", RepairStatus.WAITING_FOR_PARTS,
            date(2026, 11, 21), date(2026, 12, 2),
        )  # fmt: skip
        warranty = await sources.one("warranties", "100200300")
        assert isinstance(warranty, Warranty) and warranty.plan is WarrantyPlan.EXTENDED
        assert [r.ticket_number for r in await sources.records("customers.repairs", PHONE)] == ["3141"]  # type: ignore[union-attr]
        assert await sources.one("repairs", "1") is None
    finally:
        await sources.close()


async def test_wrong_credentials_fail_the_lookup_without_retrying(shop: FakeShop) -> None:
    sources = HttpSources(
        parse_sources_text(preset("shopify"), "s.yaml"),
        env={**env_for(shop.url), "SHOPIFY_ACCESS_TOKEN": "wrong"},
    )
    await sources.open()
    try:
        with pytest.raises(SourceUnavailable, match="HTTP 401"):
            await sources.one("orders", "4512")
        assert len(shop.requests) == 1
    finally:
        await sources.close()


def test_a_missing_secret_stops_start_up_naming_the_variable() -> None:
    spec = parse_sources_text(preset("woocommerce"), "woo.yaml")
    with pytest.raises(ConfigError, match="WOOCOMMERCE_SECRET"):
        HttpSources(spec, env={"WOOCOMMERCE_URL": "https://shop.example.com", "WOOCOMMERCE_KEY": "k"})
    with pytest.raises(ConfigError, match="WOOCOMMERCE_URL"):
        HttpSources(spec, env={})


# --- failing the ways real systems fail ---------------------------------------------------------

GENERIC_1S = preset("generic", **{"timeout: 2": "timeout: 1"})


async def test_429_with_a_short_retry_after_is_waited_for_and_retried(shop: FakeShop) -> None:
    shop.warranties["1"] = {"serial_number": "1", "plan": "standard"}
    shop.trouble.append(Trouble(429, {"Retry-After": "0.2"}))
    sources = await opened(GENERIC_1S, shop.url)
    try:
        started = time.perf_counter()
        warranty = await sources.one("warranties", "1")
        assert isinstance(warranty, Warranty)
        assert time.perf_counter() - started >= 0.2
        assert len(shop.requests) == 2
    finally:
        await sources.close()


async def test_a_retry_after_past_the_budget_fails_at_once(shop: FakeShop) -> None:
    shop.trouble.append(Trouble(429, {"Retry-After": "30"}))
    sources = await opened(GENERIC_1S, shop.url)
    try:
        started = time.perf_counter()
        with pytest.raises(SourceUnavailable, match="HTTP 429"):
            await sources.one("warranties", "1")
        assert time.perf_counter() - started < 0.9  # nobody waits out a budget for nothing
        assert len(shop.requests) == 1
    finally:
        await sources.close()


async def test_a_5xx_is_retried_once_then_unavailable(shop: FakeShop) -> None:
    shop.always = Trouble(503)
    sources = await opened(GENERIC_1S, shop.url)
    try:
        with pytest.raises(SourceUnavailable, match="HTTP 503 after 2 tries"):
            await sources.one("repairs", "3141")
        assert len(shop.requests) == 2
    finally:
        await sources.close()


async def test_a_post_is_never_retried_and_carries_a_valid_hmac_signature(shop: FakeShop) -> None:
    text = """
base_url: ${ACME_API_URL}
auth: {hmac: ACME_HMAC}
repairs:
  request: {method: POST, url: /lookup, body: {ticket: "{ticket_number}"}}
  record: $.repair
  fields: {ticket_number: $.ticket, status: {from: $.state, values: {ready: ready_for_pickup}}}
"""
    shop.repairs["77"] = {"ticket": 77, "state": "ready", "customer": {"phone": PHONE}}
    sources = await opened(text, shop.url)
    try:
        repair = await sources.one("repairs", "77")  # the fake shop answers 401 to a bad signature
        assert isinstance(repair, Repair) and repair.status is RepairStatus.READY_FOR_PICKUP
        shop.always = Trouble(500)
        with pytest.raises(SourceUnavailable):
            await sources.one("repairs", "78")
        assert shop.requests[1:] == ["POST /api/lookup"]
    finally:
        await sources.close()


@pytest.mark.parametrize(
    "trouble",
    [
        Trouble(body='{"orders": [{"order_number": 4512, "phone": "+15550100001", "name": "Jane Doe"'),
        Trouble(
            body='{"orders": [{"order_number": 4512, "phone": "+15550100001", '
            '"fulfillment_status": "weird"}]}'
        ),
    ],
)
async def test_malformed_or_unmappable_answers_are_unavailable_and_logged_without_their_data(
    shop: FakeShop, trouble: Trouble, caplog: pytest.LogCaptureFixture
) -> None:
    shop.always = trouble
    sources = await opened(preset("shopify"), shop.url)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(SourceUnavailable):
            await sources.one("orders", "4512")
        assert len(shop.requests) == 1  # a broken answer is not asked again
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "orders" in logged
        for data in ("4512", "+1555", "Jane", "weird"):  # nothing the shop said, nor what was asked
            assert data not in logged
    finally:
        await sources.close()


async def test_slow_and_refusing_sources_fail_within_the_budget(shop: FakeShop) -> None:
    shop.always = Trouble(delay=5)
    for url in (shop.url, refused_url()):
        sources = await opened(GENERIC_1S, url)
        try:
            started = time.perf_counter()
            with pytest.raises(SourceUnavailable):
                await sources.one("warranties", "1")
            assert time.perf_counter() - started < 1.0 + 0.5
        finally:
            await sources.close()


# --- the breaker, on a clock the test moves --------------------------------------------------------


async def test_the_breaker_opens_after_failures_and_closes_after_a_good_trial(shop: FakeShop) -> None:
    clock, seen = Clock(), Seen()
    text = GENERIC_1S.replace("breaker: {failures: 5, open_for: 30}", "breaker: {failures: 3, open_for: 30}")
    shop.warranties["1"] = {"serial_number": "1", "plan": "standard"}
    shop.always = Trouble(500)
    sources = await opened(text.replace("retries: 1", "retries: 0"), shop.url, clock=clock, observer=seen)
    try:
        for _ in range(3):
            with pytest.raises(SourceUnavailable, match="HTTP 500"):
                await sources.one("warranties", "1")
        assert seen.breaker["warranties"] == "open"
        started = time.perf_counter()
        with pytest.raises(SourceUnavailable, match="breaker open"):
            await sources.one("warranties", "1")
        assert time.perf_counter() - started < 0.1
        assert len(shop.requests) == 3  # resting: the shop is not asked
        assert seen.lookups[-1] == ("warranties", "open")

        clock.now += 31  # half-open: one trial, which fails: open again
        with pytest.raises(SourceUnavailable, match="HTTP 500"):
            await sources.one("warranties", "1")
        with pytest.raises(SourceUnavailable, match="breaker open"):
            await sources.one("warranties", "1")
        assert len(shop.requests) == 4

        clock.now += 31
        shop.always = None  # the shop is back: the trial succeeds and the breaker closes
        assert isinstance(await sources.one("warranties", "1"), Warranty)
        assert seen.breaker["warranties"] == "closed"
        assert isinstance(await sources.one("warranties", "1"), Warranty)
        assert seen.breaker["repairs"] == "closed"  # each source has its own
    finally:
        await sources.close()


# --- the cache: the call that asked, not the next one ---------------------------------------------


async def test_answers_are_kept_for_the_call_that_asked_only(shop: FakeShop) -> None:
    shop.shopify[4512] = shopify_order(4512, PHONE, "fulfilled", shipment="in_transit")
    sources = await opened(preset("shopify"), shop.url)
    try:
        with call_context("CA1"):
            first = await sources.one("orders", "4512")
            shop.shopify[4512] = shopify_order(4512, PHONE, "fulfilled", shipment="delivered")
            again = await sources.one("orders", "4512")
        assert first == again and len(shop.requests) == 1
        with call_context("CA2"):
            fresh = await sources.one("orders", "4512")
        assert isinstance(fresh, Order) and fresh.status is OrderStatus.DELIVERED
        with call_context("CA3"):  # the greeting's orders answer the order lookup that follows
            await sources.records("customers.orders", PHONE)
            asked = len(shop.requests)
            assert await sources.one("orders", "4512") == fresh
        assert len(shop.requests) == asked
    finally:
        await sources.close()


# --- the file: every mistake named with its file, line and reason -----------------------------------


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("orders:\n  request: /o/{order_number}\n  fields: {order_number: $.n}\n", 1, "no 'base_url'"),
        ("base_url: ftp://x\n", 1, "must start with https://"),
        ("base_url: https://x\norders:\n  request: /o/{number}\n", 3, "unknown placeholder {number}"),
        ("base_url: https://x\norders:\n  request: /o\n", 3, "must use {order_number}"),
        (
            "base_url: https://x\norders:\n  request: /o/{order_number}\n  fields:\n    order_number: $.n\n",
            4,
            "'status' is required",
        ),
        (
            "base_url: https://x\norders:\n  request: /o/{order_number}\n  fields:\n    order_number: $.n\n"
            "    status: {from: $.s, values: {done: finished}}\n",
            6,
            "'finished' is not a status the line knows",
        ),
        (
            "base_url: https://x\norders:\n  request: /o/{order_number}\n  fields:\n    order_number: n\n"
            "    status: $.s\n",
            5,
            "must start with '$'",
        ),
        ("base_url: https://x\nauth: {bearer: 'not a name'}\n", 2, "name the environment variable"),
        ("base_url: https://x\ntimeout: 60\n", 2, "'timeout' must be a number from 0.1 to 10"),
        ("base_url: https://x\norderz: local\n", 2, "unknown key 'orderz'"),
        (
            "base_url: https://x\ncustomers:\n  orders:\n    request: /c/{phone}\n    records: $.orders[0]\n"
            "    fields: {order_number: $.n, status: $.s}\n",
            5,
            "needs [*]",
        ),
    ],
)
def test_a_mistake_in_a_sources_file_is_located_and_explained(text: str, line: int, reason: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_sources_text(text, "sources.yaml")
    assert caught.value.source == "sources.yaml"
    assert caught.value.line == line
    assert reason in caught.value.message


def test_a_kind_may_give_its_own_system_and_settings() -> None:
    spec = parse_sources_text(
        "base_url: https://shop.example.com\ntimeout: 2\nauth: {bearer: SHOP}\n"
        "repairs:\n  base_url: https://service.example.com/api\n  auth: {basic: {user: U, password: P}}\n"
        "  timeout: 0.5\n  cache: 0\n  request: /r/{ticket_number}\n"
        "  fields: {ticket_number: $.t, status: $.s}\n"
        "orders:\n  request: /o/{order_number}\n  fields: {order_number: $.n, status: $.s}\n",
        "s.yaml",
    )
    repairs, orders = spec.lookups["repairs"], spec.lookups["orders"]
    assert (repairs.base_url, repairs.auth.kind, repairs.timeout, repairs.cache) == (
        "https://service.example.com/api", "basic", 0.5, 0.0,
    )  # fmt: skip
    assert (orders.base_url, orders.auth.kind, orders.timeout, orders.cache) == (
        "https://shop.example.com", "bearer", 2.0, 300.0,
    )  # fmt: skip
    assert spec.kind("warranties") == "local" and spec.env_needed() == ["SHOP", "U", "P"]


def test_the_expressions_are_a_closed_subset() -> None:
    data = {"a": [{"k": "x", "v": 1}, {"k": "y", "v": [2, 3]}], "b-c": None}
    assert parse_path("$.a[-1].v[0]").first(data) == 2
    assert parse_path("$.a[?k=='x'].v").first(data) == 1
    assert parse_path("$.a[*].k").select(data) == ["x", "y"]
    assert parse_path("$['b-c']").first(data) is None
    assert parse_path("$.a[7].v").select(data) == []
    with pytest.raises(PathError, match=r"cannot be read from '\.\.v'"):
        parse_path("$.a..v")


async def test_a_long_answer_arrives_whole_and_one_past_the_limit_is_refused(shop: FakeShop) -> None:
    shop.shopify[1000] = shopify_order(1000, PHONE, "fulfilled", shipment="in_transit")
    many = [shopify_order(n, PHONE, "fulfilled", shipment="in_transit") for n in range(1000, 1400)]
    shop.trouble.extend([Trouble(), Trouble(body=json.dumps({"orders": many}))])  # about 400 KB
    sources = await opened(preset("shopify"), shop.url)
    try:
        assert len(await sources.records("customers.orders", PHONE)) == 400  # many chunks on the wire
        shop.always = Trouble(body=" " * (2 * 1024 * 1024 + 1))
        with pytest.raises(SourceUnavailable, match="larger than 2048 KB"):
            await sources.records("customers.orders", PHONE)
    finally:
        await sources.close()


def test_one_half_open_trial_at_a_time() -> None:
    clock = Clock()
    breaker = Breaker(failures=1, open_for=10, clock=clock)
    breaker.failed()
    assert not breaker.allow()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()


async def test_a_cancelled_half_open_trial_lets_the_next_lookup_try(shop: FakeShop) -> None:
    clock, seen = Clock(), Seen()
    text = GENERIC_1S.replace("breaker: {failures: 5, open_for: 30}", "breaker: {failures: 1, open_for: 30}")
    shop.warranties["1"] = {"serial_number": "1", "plan": "standard"}
    shop.always = Trouble(500)
    sources = await opened(text.replace("retries: 1", "retries: 0"), shop.url, clock=clock, observer=seen)
    try:
        with pytest.raises(SourceUnavailable, match="HTTP 500"):
            await sources.one("warranties", "1")
        clock.now += 31
        shop.always = Trouble(delay=5)
        shop.arrived.clear()
        trial = asyncio.create_task(sources.one("warranties", "1"))
        await asyncio.wait_for(shop.arrived.wait(), 5)  # the trial has reached the shop
        trial.cancel()  # the caller hung up mid-lookup
        with pytest.raises(asyncio.CancelledError):
            await trial
        shop.always = None
        assert isinstance(await sources.one("warranties", "1"), Warranty)
        assert seen.breaker["warranties"] == "closed"
        assert seen.seconds[-1] > 0  # a real request's time reaches /metrics
    finally:
        await sources.close()


async def test_a_callers_orders_follow_the_next_page_as_far_as_the_file_says(shop: FakeShop) -> None:
    for number in range(1000, 1045):
        shop.shopify[number] = shopify_order(number, PHONE, "fulfilled", shipment="in_transit")
        shop.woo[number] = woo_order(number, PHONE, "processing")
    for name in ("shopify", "woocommerce"):  # both presets read two pages of 20
        sources = await opened(preset(name), shop.url)
        try:
            shop.requests.clear()
            mine = await sources.records("customers.orders", PHONE)
            assert len(mine) == 40
            pages = [r for r in shop.requests if "page_info=" in r or "&page=" in r]
            assert len(pages) == 1, shop.requests  # the second page, named by the Link header
        finally:
            await sources.close()
    shop.next_origin = "http://elsewhere.example"  # a next page on another host: not followed
    sources = await opened(preset("woocommerce"), shop.url)
    try:
        assert len(await sources.records("customers.orders", PHONE)) == 20
    finally:
        await sources.close()


def test_the_example_in_the_docs_is_a_valid_file() -> None:
    text = (ROOT / "docs" / "sources.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_sources_text(example, "docs/sources.md")
    assert set(spec.lookups) == {"orders", "customers.orders"} and spec.kind("repairs") == "local"
