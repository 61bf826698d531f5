"""`ivr sources check` and `ivr sources test` as an operator runs them, against the shop on loopback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.config import ConfigError
from ivr.testing.demo_line import ROOT, make_settings
from ivr.testing.fake_shop import SHOPIFY_TOKEN, FakeShop, Trouble, shopify_order
from ivr.web.app import create_app

pytestmark = pytest.mark.inprocess
SHOPIFY = ROOT / "sources" / "shopify.yaml"
PHONE = "+15550100001"


@pytest.fixture
async def shop(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeShop]:
    fake = FakeShop()
    await fake.start()
    fake.shopify[4512] = shopify_order(4512, PHONE, "fulfilled", shipment="in_transit")
    monkeypatch.setenv("IVR_SOURCES", str(SHOPIFY))
    monkeypatch.setenv("SHOPIFY_STORE_URL", fake.url)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", SHOPIFY_TOKEN)
    yield fake
    await fake.stop()


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))  # the command runs its own event loop


async def test_a_lookup_shows_the_raw_answer_the_record_and_the_time(
    shop: FakeShop, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("sources", "test", "orders", "4512") == 0
    out = capsys.readouterr().out
    assert f"GET {shop.url}/admin/api/2024-10/orders.json?name=4512&status=any&limit=1 → 200 in " in out
    assert '"shipment_status": "in_transit"' in out  # the raw answer, as the shop sent it
    assert re.search(r"^  status +shipped$", out, re.M)  # the record the line would read
    assert re.search(r"^  phone +\+15550100001$", out, re.M)
    assert re.search(r"^orders: \d+ ms of a 2 s budget$", out, re.M)

    assert await run("sources", "test", "customers", PHONE) == 0
    out = capsys.readouterr().out
    assert "customers/search.json?query=phone:%2B15550100001&limit=1 → 200" in out
    assert "/customers/207119551/orders.json?status=any&limit=20 → 200" in out
    assert re.search(r"^  order_number +4512$", out, re.M)


async def test_a_failing_lookup_says_why_and_exits_1(
    shop: FakeShop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.always = Trouble(status=500)
    assert await run("sources", "test", "orders", "4512") == 1
    out = capsys.readouterr().out
    assert out.count(" → 500 in ") == 2  # retried once
    assert "orders: FAILED: HTTP 500 after 2 tries" in out

    shop.always = Trouble(body='{"orders": [{"order_number": 4512, "fulfillment_status": "lost"}]}')
    assert await run("sources", "test", "orders", "4512") == 1
    assert (
        "FAILED: the answer cannot be mapped: status: 'lost' is not in the values table"
        in capsys.readouterr().out
    )

    assert await run("sources", "test", "repairs", "3141") == 1  # local in this file
    assert "repairs: local in" in capsys.readouterr().out


def test_check_says_what_each_kind_reads_and_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WOOCOMMERCE_URL", "https://shop.example.com")
    monkeypatch.delenv("WOOCOMMERCE_KEY", raising=False)
    assert main(["sources", "check", str(ROOT / "sources" / "woocommerce.yaml")]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^  orders +http \$\{WOOCOMMERCE_URL\}: GET /wp-json/wc/v3/orders/\{order_number\}", out, re.M
    )
    assert re.search(r"^  repairs +local", out, re.M)
    assert "needs WOOCOMMERCE_KEY: not set in this environment" in out
    assert "needs WOOCOMMERCE_URL" not in out


def test_a_broken_file_is_named_with_its_line_by_check_and_stops_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "sources.yaml"
    broken.write_text(SHOPIFY.read_text().replace("        fulfilled: shipped", "        fulfilled: sent"))
    line = next(
        i for i, text in enumerate(broken.read_text().splitlines(), 1) if text.startswith("    status:")
    )
    assert main(["sources", "check", str(broken)]) == 1
    assert f"{broken} line {line}: 'sent' is not a status the line knows" in capsys.readouterr().err
    settings = make_settings(tmp_path, IVR_SOURCES=str(broken))
    with pytest.raises(ConfigError, match=f"IVR_SOURCES: {re.escape(str(broken))} line {line}"):
        create_app(settings)
    with pytest.raises(ConfigError, match=r"IVR_SOURCES '.*nowhere.yaml' is not a file"):
        make_settings(tmp_path, IVR_SOURCES=str(tmp_path / "nowhere.yaml"))
