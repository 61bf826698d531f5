"""Booking a repair on the phone: the slot calendar taken atomically on both databases and by
two instances, the booking texted, heard again, moved and cancelled, what the caller already
tried kept for the technician, the console's Repairs page, and the count in `ivr stats`.

The whole call's wording in each language is in the golden transcripts (tests/golden/*repair_*);
these tests check what the transcripts cannot: races, texts, the console, the figures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.flow.actions import ACTIONS, ActionContext, check_repair, find_repair_booking
from ivr.importer import ImportKind, parse_file
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.session import CallSession
from ivr.store.accounts import Role
from ivr.store.audit import AuditLog
from ivr.store.backends import build_stores
from ivr.store.repair_bookings import (
    AlreadyBooked,
    BookingStatus,
    DayPart,
    Product,
    RepairOption,
    Slot,
    SlotTaken,
    SqlRepairBookings,
)
from ivr.store.sql import Sql
from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import add_account, console_client, sign_in
from tests.insight_calls import stats

JANE = "+15550100001"
"""Her espresso machine (order 4512) is under warranty until 2027-01-15."""
ANA = "+15550100003"
"""Her dishwasher is out of warranty; her coffee grinder is not."""
TUESDAY = Slot(TODAY + timedelta(days=1), DayPart.MORNING)
WEDNESDAY = Slot(TODAY + timedelta(days=2), DayPart.AFTERNOON)
THURSDAY = Slot(TODAY + timedelta(days=3), DayPart.MORNING)


def product(serial: str) -> Product:
    return Product(serial, f"order-{serial}", "espresso machine", date(2027, 1, 15))


async def open_calendar(repairs: SqlRepairBookings, *slots: Slot) -> None:
    for slot in slots:
        assert await repairs.add_slot(slot.day, slot.part, "test")


async def test_of_callers_racing_for_one_slot_exactly_one_gets_it(sql: Sql) -> None:
    repairs = SqlRepairBookings(sql)
    await open_calendar(repairs, TUESDAY, WEDNESDAY)
    racing = await asyncio.gather(
        *(
            repairs.book(
                product(f"90000{n}"),
                f"+1555010009{n}",
                RepairOption.PICKUP,
                TUESDAY,
                covered=True,
                guide_outcome="",
                language="en",
                booked_on=TODAY,
            )
            for n in range(6)
        ),
        return_exceptions=True,
    )
    won = [r for r in racing if not isinstance(r, BaseException)]
    assert len(won) == 1, racing
    assert all(isinstance(r, SlotTaken) for r in racing if r not in won)
    assert won[0].number == "8001" and won[0].slot == Slot(TUESDAY.day, TUESDAY.part, "8001")
    # The losers filed nothing; the next free slot is the one a loser is offered.
    assert [b.number for b in await repairs.recent()] == ["8001"]
    assert await repairs.free_slots(TODAY) == [WEDNESDAY]
    # One standing booking per product, however often a webhook is retried.
    with pytest.raises(AlreadyBooked):
        await repairs.book(
            product(won[0].serial_number),
            "+15550100099",
            RepairOption.DROPOFF,
            None,
            covered=True,
            guide_outcome="",
            language="en",
            booked_on=TODAY,
        )
    dropoff = await repairs.book(
        product("800000"),
        JANE,
        RepairOption.DROPOFF,
        None,
        covered=False,
        guide_outcome="E15 after a reset",
        language="de",
        booked_on=TODAY,
    )
    assert (dropoff.number, dropoff.slot, dropoff.covered) == ("8002", None, False)
    # Callers taking different slots at once all get one, each with its own number (on
    # PostgreSQL the same next number is tried twice, and the loser takes the one after).
    later = [Slot(TODAY + timedelta(days=n), DayPart.AFTERNOON) for n in range(5, 9)]
    await open_calendar(repairs, *later)
    spread = await asyncio.gather(
        *(
            repairs.book(
                product(f"70000{n}"), JANE, RepairOption.VISIT, slot,
                covered=True, guide_outcome="", language="en", booked_on=TODAY,
            )
            for n, slot in enumerate(later)
        )
    )  # fmt: skip
    assert sorted(b.number for b in spread) == ["8003", "8004", "8005", "8006"]


async def test_a_booking_moves_and_cancels_and_its_slots_follow(sql: Sql) -> None:
    repairs = SqlRepairBookings(sql)
    await open_calendar(repairs, TUESDAY, WEDNESDAY, THURSDAY)
    booked = await repairs.book(
        product("1"),
        JANE,
        RepairOption.VISIT,
        TUESDAY,
        covered=True,
        guide_outcome="",
        language="en",
        booked_on=TODAY,
    )
    other = await repairs.book(
        product("2"),
        ANA,
        RepairOption.PICKUP,
        WEDNESDAY,
        covered=True,
        guide_outcome="",
        language="en",
        booked_on=TODAY,
    )
    with pytest.raises(SlotTaken):
        await repairs.move(booked.number, WEDNESDAY)  # Ana's: nothing changes
    moved = await repairs.move(booked.number, THURSDAY)
    assert moved.slot is not None and moved.slot.day == THURSDAY.day
    assert await repairs.free_slots(TODAY) == [TUESDAY]  # the old slot is free again
    assert not await repairs.remove_slot(THURSDAY.day, THURSDAY.part), "a booked slot stays"
    assert await repairs.cancel(booked.number)
    assert not await repairs.cancel(booked.number)
    assert await repairs.standing_for(JANE) is None
    assert (await repairs.standing_for(ANA)) == other
    assert await repairs.free_slots(TODAY, 5) == [TUESDAY, THURSDAY]
    assert await repairs.remove_slot(THURSDAY.day, THURSDAY.part)
    # Cancelled, the product may be booked again.
    again = await repairs.book(
        product("1"),
        JANE,
        RepairOption.DROPOFF,
        None,
        covered=True,
        guide_outcome="",
        language="en",
        booked_on=TODAY,
    )
    assert again.number == "8003" and again.status is BookingStatus.BOOKED


async def two_callers_at_the_slot_question(a: TestClient, b: TestClient) -> tuple[Caller, Caller]:
    jane, ana = Caller(a, phone=JANE), Caller(b, phone=ANA)
    await jane.dial()
    await jane.say("I'd like to book a repair")
    assert "Which suits you, Tuesday morning or Wednesday afternoon?" in (await jane.press("1")).text
    await ana.dial()
    await ana.say("I want to book a repair")
    await ana.press("2")  # her coffee grinder, under warranty
    assert "Which suits you, Tuesday morning or Wednesday afternoon?" in (await ana.press("3")).text
    return jane, ana


async def test_two_instances_over_one_database_give_a_slot_to_one_caller(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    """Two servers on one database (PostgreSQL as deployed, or one SQLite file): Jane on one,
    Ana on the other, both press 1 for Tuesday morning at the same moment."""
    settings = [
        make_settings(tmp_path / name, IVR_DATABASE_URL=database_url, IVR_AGENT_NUMBER="+15550123456")
        for name in ("a", "b")
    ]
    stores = build_stores(database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await open_calendar(SqlRepairBookings(stores.sql), TUESDAY, WEDNESDAY, THURSDAY)
    await stores.close()
    a = await aiohttp_client(create_app(settings[0], today=lambda: TODAY))
    b = await aiohttp_client(create_app(settings[1], today=lambda: TODAY))
    jane, ana = await two_callers_at_the_slot_question(a, b)
    turns = await asyncio.gather(jane.press("1"), ana.press("1"))
    booked = [t for t in turns if "Your repair is booked" in t.text]
    taken = [t for t in turns if "someone else has just taken that time" in t.text]
    assert len(booked) == 1 and len(taken) == 1, [t.heard for t in turns]
    assert "on Tuesday morning" in booked[0].text
    assert "Which suits you, Wednesday afternoon or Thursday morning?" in taken[0].text
    loser = jane if turns[1] is booked[0] else ana
    assert "on Wednesday afternoon" in (await loser.press("1")).text
    slots = await SqlRepairBookings(a.app[STORES].sql).slots(TODAY)
    assert [s.booking for s in slots] == ["8001", "8002", ""]


async def line(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount | None = None) -> TestClient:
    texting = (
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_PHONE_NUMBER": LINE_NUMBER,
            "TWILIO_API_BASE": twilio.api_base,
        }
        if twilio is not None
        else {}
    )
    settings = make_settings(tmp_path, IVR_AGENT_NUMBER="+15550123456", **texting)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await open_calendar(SqlRepairBookings(client.app[STORES].sql), TUESDAY, WEDNESDAY)
    return client


async def test_the_booking_is_texted_and_heard_on_the_next_call(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller = Caller(client, phone=JANE)
    await caller.dial()
    await caller.say("I'd like to book a repair")
    await caller.press("1")
    done = await caller.press("2")
    assert done.heard[:2] == [
        "Your repair is booked. A courier will collect your espresso machine on Wednesday afternoon."
        " Your booking number is 8 0 0 1.",
        "I've texted you the details. To move or cancel it, just call us again.",
    ]
    (message,) = twilio.messages
    assert (message.to, message.from_) == (JANE, LINE_NUMBER)
    assert message.body == (
        "Acme repair 8001: a courier collects your espresso machine on the afternoon of Wednesday,"
        " November 25. To move or cancel it, call us; we find it by your number."
    )
    await caller.hang_up()
    again = await Caller(client, phone=JANE).dial()
    assert again.heard[1] == (
        "Your repair 8 0 0 1 is booked: a courier collects your espresso machine on Wednesday afternoon."
    )


async def test_a_guide_s_outcome_rides_on_the_booking_to_the_console(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    """`book_repair` entered from another flow: what the caller already tried is kept."""
    client = await line(aiohttp_client, tmp_path)
    stores = client.app[STORES]
    repairs = SqlRepairBookings(stores.sql)
    session = CallSession("CAguide", JANE, "+15550009999", "support", "book_repair", 0.0)
    session.vars["guide_outcome"] = "Dishwasher guide E15: unplugged for a minute, still shows E15"
    ctx = ActionContext(session, stores.repository, TODAY, repairs=repairs, render=lambda _: "words")
    assert await check_repair(ctx) == "covered"
    assert await ACTIONS["choose_repair_pickup"].run(ctx) == "offered"
    assert session.vars["repair_postal_code"] == "94107"
    assert await ACTIONS["book_repair_slot_1"].run(ctx) == "not_texted"
    assert await find_repair_booking(ctx) == "found"
    assert await check_repair(ctx) == "booked"  # the next call hears it instead of booking twice

    assert (await client.get("/console/repairs", allow_redirects=False)).status == 303
    await add_account(client.app, "alex", Role.AGENT)
    await sign_in(client, "alex")
    page = await (await client.get("/console/repairs")).text()
    assert "<td>8001</td>" in page and "still shows E15" in page and JANE not in page
    assert "/console/repairs/slots" not in page  # agents read the calendar; supervisors edit it
    (row,) = await (await client.get("/console/repairs.json")).json()
    assert (row["option"], row["slot"], row["covered"]) == ("pickup", f"{TUESDAY.day} morning", True)


ADD, REMOVE = "/console/repairs/slots", "/console/repairs/slots/remove"


def form(csrf: str, day: str) -> dict[str, str]:
    return {"csrf_token": csrf, "day": day, "part": "morning"}


async def test_supervisors_open_and_close_slots_with_csrf_and_an_audit_trail(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    await add_account(client.app, "alex", Role.AGENT)
    await add_account(client.app, "maria", Role.SUPERVISOR)
    csrf = await sign_in(client, "alex")
    friday = (TODAY + timedelta(days=4)).isoformat()
    refused = await client.post(
        "/console/repairs/slots", data={"csrf_token": csrf, "day": friday, "part": "morning"}
    )
    assert refused.status == 403
    await client.post("/console/logout", data={"csrf_token": csrf})
    csrf = await sign_in(client, "maria")
    forged = await client.post(ADD, data={"day": friday, "part": "morning"})
    assert forged.status == 403
    added = await client.post(
        "/console/repairs/slots", data={"csrf_token": csrf, "day": friday, "part": "morning"}
    )
    assert added.status == 200 and f"Added {friday} morning." in await added.text()
    for bad, reason in (("2026-13-01", "like 2026-12-01"), (TODAY.isoformat(), "after today")):
        wrong = await client.post(
            "/console/repairs/slots", data={"csrf_token": csrf, "day": bad, "part": "morning"}
        )
        assert wrong.status == 400 and reason in await wrong.text()
    twice = await client.post(
        "/console/repairs/slots", data={"csrf_token": csrf, "day": friday, "part": "morning"}
    )
    assert twice.status == 409
    repairs = SqlRepairBookings(client.app[STORES].sql)
    assert Slot(date.fromisoformat(friday), DayPart.MORNING) in await repairs.free_slots(TODAY, 5)
    await repairs.book(
        product("1"),
        JANE,
        RepairOption.PICKUP,
        TUESDAY,
        covered=True,
        guide_outcome="",
        language="en",
        booked_on=TODAY,
    )
    booked = await client.post(
        "/console/repairs/slots/remove",
        data={"csrf_token": csrf, "day": TUESDAY.day.isoformat(), "part": "morning"},
    )
    assert booked.status == 409 and "moved or cancelled by its caller" in await booked.text()
    removed = await client.post(REMOVE, data=form(csrf, friday))
    assert removed.status == 200
    entries = await AuditLog(client.app[STORES].sql).recent()
    assert [(e.actor, e.action, e.subject) for e in entries if e.action.startswith("repair_slot")] == [
        ("maria", "repair_slot.remove", f"{friday} morning"),
        ("maria", "repair_slot.add", f"{friday} morning"),
    ]


async def test_ivr_stats_counts_the_repairs_booked_and_the_calls_they_kept_from_a_person(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    jane = Caller(client, phone=JANE)
    await jane.dial()
    await jane.say("I'd like to book a repair")
    await jane.press("2")  # drop-off: booked at once
    await jane.press("9")
    await jane.hang_up()
    ana = Caller(client, phone=ANA)
    await ana.dial()
    await ana.say("I want to book a repair")
    for key in ("1", "1", "1"):  # the dishwasher at the market's price, a pickup
        await ana.press(key)
    assert "Your repair is booked" in (await ana.press("1")).text
    assert (await ana.press("0")).handoff is not None  # then asks for a person
    await ana.hang_up()
    figures = await asyncio.to_thread(stats, tmp_path)
    assert figures["self_service"] == {"repairs_booked": {"calls": 2, "contained": 1}}


@pytest.mark.process
def test_the_calendar_from_the_shell_opens_lists_and_closes_slots(tmp_path: Path) -> None:
    """`ivr repairs slots`, as `scripts/demo` fills the demo's calendar: audited, a slot once."""
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path), "TWILIO_AUTH_TOKEN": "x"}

    def ivr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivr", "repairs", "slots", *args], env=env, capture_output=True, text=True
        )

    day = (date.today() + timedelta(days=3)).isoformat()
    assert ivr("add", day, "morning", "--by", "maria").stdout == f"Added {day} morning.\n"
    again = ivr("add", day, "morning")
    assert again.returncode == 1 and "the calendar has it already" in again.stderr
    assert ivr("list").stdout == f"{day} morning   free\n"
    assert ivr("add", "2026-13-01", "morning").returncode == 2
    assert ivr("remove", day, "morning", "--by", "maria").returncode == 0
    assert ivr("list").stdout == ""
