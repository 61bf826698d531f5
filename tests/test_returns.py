"""Starting a return on the phone: eligibility from the data, the return number, the label by
text, the status on the next call, the console's Returns list, and one return per product on
both databases.

The line runs for real on loopback (signed webhooks, SQLite, the sandbox's Twilio account for
texts) on the demo's day, 2026-11-23; the customers below are made for the edges of the
30-day window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.importer import ImportKind, parse_text
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.store.accounts import Role
from ivr.store.returns import ReturnReason, SqlReturns
from ivr.store.sql import Sql
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import add_account, console_client, sign_in
from tests.insight_calls import stats

LAST_DAY = "+15550100050"
"""Order 5001, delivered 2026-10-24: 30 days later is today, the window's last day."""
DAY_AFTER = "+15550100051"
"""Order 5002, delivered 2026-10-23: the window ended yesterday."""
RETURNED = "+15550100052"
"""Order 5003, returned already (the company's own status)."""
STRANGER = "+15550199999"
HEADER = "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
ORDERS = f"""{HEADER}
5001,{LAST_DAY},Lee Park,02139,delivered,UPS,1Z001,2026-10-20,2026-10-22,2026-10-24
5002,{DAY_AFTER},Kim Ode,02139,delivered,UPS,1Z002,2026-10-19,2026-10-21,2026-10-23
5003,{RETURNED},Max Roe,02139,returned,UPS,1Z003,2026-11-01,2026-11-03,2026-11-05
"""
WARRANTIES = """serial_number,order_number,product,purchased_on,expires_on,plan
900001,5001,stand mixer,2026-10-20,2028-10-20,standard
900002,5001,hand blender,2026-10-20,2028-10-20,standard
"""
REASON = (
    "Why are you sending it back? Say damaged, wrong item, not needed, or doesn't work. Or press 1"
    " for damaged, 2 for wrong item, 3 for not needed, or 4 for doesn't work."
)


async def line(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount | None = None, **env: str
) -> TestClient:
    texting = (
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_PHONE_NUMBER": LINE_NUMBER,
            "TWILIO_API_BASE": twilio.api_base,
        }
        if twilio is not None
        else {}
    )
    settings = make_settings(tmp_path, IVR_AGENT_NUMBER="+15550123456", **texting, **env)
    db = SQLiteDatabase(Path(settings.database_url.removeprefix("sqlite:///")))
    repository = SQLiteRepository(db)
    await repository.upsert(parse_text(ImportKind.ORDERS, ORDERS, "orders.csv"))
    await repository.upsert(parse_text(ImportKind.WARRANTIES, WARRANTIES, "warranties.csv"))
    await db.close()
    # The console's client (cookies like a browser's) takes the calls too: one server, one database.
    return await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))


async def ask_to_return(client: TestClient, phone: str) -> tuple[Caller, list[str]]:
    caller = Caller(client, phone=phone)
    await caller.dial_to_menu()
    return caller, (await caller.say("I want to send it back")).heard


async def test_the_last_day_of_the_window_starts_a_return_and_texts_the_label(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller, heard = await ask_to_return(client, LAST_DAY)
    assert heard == [
        "You can return products from order 5 0 0 1 until Monday, November 23.",
        "Which product would you like to return? For the stand mixer, press 1."
        " For the hand blender, press 2.",
    ]
    assert (await caller.press("2")).heard == [REASON]
    started = await caller.say("it doesn't work")
    assert started.heard[:2] == [
        "I've started your return of the hand blender. Your return number is 7 0 0 1.",
        "I've texted you the return label and where to drop off the parcel.",
    ]
    assert "Anything else?" in started.text
    (message,) = twilio.messages
    assert (message.to, message.from_) == (LAST_DAY, LINE_NUMBER)
    assert message.body.startswith("Acme return 7001: print your free return label at")
    assert "https://www.acme.example/returns?rma=7001" in message.body
    await caller.hang_up()

    again = Caller(client, phone=LAST_DAY)
    welcome = await again.dial()
    assert welcome.heard[1] == (
        "Your return 7 0 0 1 of the hand blender was started today. Once it reaches us, your refund or"
        " replacement follows within 5 business days."
    )
    assert "Anything else?" in welcome.text
    # The mixer can still go back; the blender is not offered twice.
    other = await again.say("I'd like to return another product")
    assert other.heard == ["You can return products from order 5 0 0 1 until Monday, November 23.", REASON]
    done = await again.press("1")
    assert done.heard[0] == "I've started your return of the stand mixer. Your return number is 7 0 0 2."
    last = await again.say("I want to send it back")
    assert last.heard[0] == (
        "Order 5 0 0 1 has already been returned, so there's nothing more to send back from it."
    )


async def test_the_day_after_the_window_says_why_and_starts_nothing(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller, heard = await ask_to_return(client, DAY_AFTER)
    assert heard[0] == (
        "Order 5 0 0 2 was delivered on October 23. Products can be returned for 30 days after delivery,"
        " and that time ended yesterday, so I can't start a return. If the product is faulty, the"
        " warranty may cover it: press 0 for an agent."
    )
    assert caller.last is not None and "Anything else?" in caller.last.text
    assert await SqlReturns(client.app[STORES].sql).recent() == []


async def test_a_market_s_own_window_is_a_setting(aiohttp_client: Callable, tmp_path: Path) -> None:
    # The market's (the call's language's) window wins over the line's.
    client = await line(aiohttp_client, tmp_path, IVR_RETURN_DAYS="10", IVR_RETURN_DAYS_EN="45")
    _, heard = await ask_to_return(client, DAY_AFTER)
    assert heard == ["You can return products from order 5 0 0 2 until Monday, December 7.", REASON]


async def test_an_order_already_returned_is_said_so(aiohttp_client: Callable, tmp_path: Path) -> None:
    client = await line(aiohttp_client, tmp_path)
    _, heard = await ask_to_return(client, RETURNED)
    assert (
        heard[0] == "Order 5 0 0 3 has already been returned, so there's nothing more to send back from it."
    )


async def test_a_stranger_hears_the_policy_and_nothing_of_anyone_s_order(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    _, heard = await ask_to_return(client, STRANGER)
    assert heard[0].startswith("You can return or exchange any product within 30 days of delivery.")
    assert not any("5 0 0" in sentence for sentence in heard)


async def test_agents_see_the_returns_on_the_console(aiohttp_client: Callable, tmp_path: Path) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller, _ = await ask_to_return(client, LAST_DAY)
    await caller.press("1")
    await caller.press("3")
    console = client
    assert (await console.get("/console/returns", allow_redirects=False)).status == 303
    await add_account(client.app, "alex", Role.AGENT)
    await sign_in(console, "alex")
    page = await (await console.get("/console/returns")).text()
    assert "<td>7001</td>" in page and "<td>stand mixer</td>" in page and "not needed" in page
    assert LAST_DAY not in page  # the number is masked
    (row,) = await (await console.get("/console/returns.json")).json()
    assert (row["rma"], row["order_number"], row["reason"]) == ("7001", "5001", "not_needed")


async def test_a_product_is_returned_once_however_many_calls_race(sql: Sql) -> None:
    await sql.execute(
        "INSERT INTO warranties"
        " (serial_number, order_number, product, purchased_on, expires_on, plan, imported_at)"
        " VALUES ('900001', '5001', 'stand mixer', NULL, NULL, 'standard', CURRENT_TIMESTAMP)"
    )
    returns = SqlReturns(sql)
    assert await returns.products_of("5001") == [("900001", "stand mixer")]
    racing = await asyncio.gather(
        *(
            returns.start(
                "5001", "900001", "stand mixer", LAST_DAY, ReturnReason.DAMAGED, "en", date(2026, 11, 23)
            )
            for _ in range(4)
        )
    )
    made = [record for record in racing if record is not None]
    assert len(made) == 1 and made[0].rma == "7001"
    others = await asyncio.gather(
        *(
            returns.start(order, "", "", DAY_AFTER, ReturnReason.WRONG_ITEM, "de", date(2026, 11, 24))
            for order in ("5002", "5003", "5004")
        )
    )
    assert sorted(r.rma for r in others if r is not None) == ["7002", "7003", "7004"]
    assert [r.rma for r in await returns.recent()][-1] == "7001"
    latest = await returns.latest_for(LAST_DAY)
    assert latest is not None and (latest.product, latest.started_on) == ("stand mixer", date(2026, 11, 23))


async def test_the_questions_menu_offers_to_start_the_return_after_the_policy(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller = Caller(client, phone=LAST_DAY)
    await caller.dial_to_menu()
    await caller.press("4")
    policy = await caller.press("1")
    assert policy.heard[0].startswith("You can return or exchange any product within 30 days")
    assert (
        policy.heard[1] == "To start a return for order 5 0 0 1 now, press 1 or say yes. Otherwise, press 2."
    )
    assert (await caller.say("yes")).heard[
        0
    ] == "You can return products from order 5 0 0 1 until Monday, November 23."


async def test_a_caller_verified_by_postal_code_may_return_from_another_phone(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller = Caller(client, phone=STRANGER)
    await caller.dial_to_menu()
    await caller.press("1")
    await caller.press("5001#")
    assert "postal code" in (caller.last.text if caller.last else "")
    await caller.press("02139#")
    heard = (await caller.say("I want to send it back")).heard
    assert heard[0] == "You can return products from order 5 0 0 1 until Monday, November 23."
    await caller.press("1")
    assert (await caller.press("1")).heard[0] == (
        "I've started your return of the stand mixer. Your return number is 7 0 0 1."
    )
    # The return is filed under the number that started it: that phone hears it next time.
    assert "Your return 7 0 0 1" in (await Caller(client, phone=STRANGER).dial()).text


async def test_ivr_stats_counts_the_returns_started_and_the_calls_they_kept_from_a_person(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller, _ = await ask_to_return(client, LAST_DAY)
    await caller.press("1")
    await caller.press("2")
    await caller.press("9")  # that's all: resolved by the line alone
    await caller.hang_up()
    handed_over = Caller(client, phone=LAST_DAY)
    assert "Your return 7 0 0 1" in (await handed_over.dial()).text
    heard = (await handed_over.say("I want to send the other one back")).heard
    assert heard[-1] == REASON  # the blender is the one product left
    await handed_over.press("4")
    assert (await handed_over.press("0")).handoff is not None  # then asks for a person
    await handed_over.hang_up()
    policy_only, _ = await ask_to_return(client, STRANGER)
    await policy_only.hang_up()
    figures = await asyncio.to_thread(stats, tmp_path)
    assert figures["calls"] == 3
    assert figures["self_service"] == {"returns_started": {"calls": 2, "contained": 1}}
