"""Opening hours without an agent desk: the plain `<Enqueue>` and `<Dial>` set-ups (no Twilio
REST credentials) follow the one schedule (IVR_HOURS), with a fixed clock, through the real
webhook server. The desk's own after-hours voicemail is tested in test_agents_calls."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.store.switches import EMERGENCY, SqlSwitchStore
from ivr.config import ConfigError
from ivr.testing.caller import Caller, Turn
from ivr.testing.demo_line import ROOT, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES

HOURS = str(ROOT / "flows" / "hours.yaml")  # New York: Mon-Fri 8-18, Sat 9-13, Dec 25 closed
OPEN = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
SUNDAY = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # Sunday 10:00
CHRISTMAS = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)  # a Friday, a holiday
WEEK = "Monday to Friday, 8 AM to 6 PM; Saturday, 9 AM to 1 PM (Eastern Time)"


async def line(aiohttp_client: Callable, tmp_path: Path, at: datetime, **env: str) -> TestClient:
    settings = make_settings(tmp_path, IVR_HOURS=HOURS, **env)
    await load_demo_data(settings)
    client: TestClient = await aiohttp_client(create_app(settings, now=lambda: at))
    return client


async def queue_wait(caller: Caller, url: str, **params: str) -> Turn:
    """One request of Twilio's wait URL loop (its answer ends in music: Twilio asks again)."""
    response = await caller.raw_post(url, caller.params(params))
    body = await response.text()
    assert response.status == 200, body
    return Turn(body, ET.fromstring(body))


async def press_0(client: TestClient) -> tuple[Caller, Turn]:
    caller = Caller(client)
    await caller.dial()
    return caller, await caller.press("0")


async def test_the_hours_answer_is_the_schedule(aiohttp_client: Callable, tmp_path: Path) -> None:
    caller = Caller(await line(aiohttp_client, tmp_path, OPEN))
    await caller.dial_to_menu()
    await caller.press("4")
    answer = await caller.press("5")
    assert (
        answer.heard[0] == f"Our agents are available {WEEK}. This automated line is open around the clock."
    )


async def test_a_ready_repair_says_where_when_and_until_when(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    location = "our service centre at 200 Main Street"
    client = await line(aiohttp_client, tmp_path, OPEN, IVR_PICKUP_LOCATION=location, IVR_PICKUP_DAYS="10")
    owner = Caller(client, phone="+15550100002")
    await owner.dial_to_menu()
    await owner.press("2")
    turn = await owner.press("2718")  # ready since November 22: kept 10 days
    assert turn.heard[0] == (
        "Good news: repair 2 7 1 8 for your robot vacuum is ready for pickup until Wednesday, December 2."
        f" It is waiting for you at {location}. You can pick it up {WEEK}. Please bring your ticket number."
    )


async def test_a_repair_is_never_kept_until_a_day_the_line_is_closed(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, OPEN, IVR_PICKUP_DAYS="14")
    owner = Caller(client, phone="+15550100002")
    await owner.dial_to_menu()
    await owner.press("2")
    turn = await owner.press("2718")  # ready since November 22: 14 days is Sunday, December 6
    assert "until Saturday, December 5." in turn.heard[0]


async def test_while_open_the_plain_queue_tells_place_and_wait_over_hold_music(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, OPEN)
    caller, turn = await press_0(client)
    assert turn.heard == ["Please hold while I connect you with an agent."]
    enqueue = turn.handoff
    assert enqueue is not None and enqueue.tag == "Enqueue"
    wait_url = enqueue.get("waitUrl", "")
    assert wait_url.endswith("/voice/queue-wait?language=en")  # the caller hears it in their language
    waiting = await queue_wait(caller, wait_url, QueuePosition="2", AvgQueueTime="150", QueueTime="30")
    assert waiting.heard[0] == "You are number 2 in line. The wait is about 3 minutes."
    music = waiting.root.find("Play")
    assert music is not None and music.text and music.text.endswith("/audio/hold.wav")
    hold = await client.get("/audio/hold.wav")
    assert (
        hold.status == 200 and hold.headers["Content-Type"] == "audio/wav" and len(await hold.read()) > 1000
    )
    # Past the longest wait (IVR_MAX_QUEUE_WAIT, 900 s) the caller leaves the queue for a call back.
    long = await queue_wait(caller, wait_url, QueuePosition="1", AvgQueueTime="600", QueueTime="905")
    assert long.root.find("Leave") is not None
    offer = await caller.transfer_ends("leave")
    assert "To have an agent call you back at the number you are calling from, press 1." in offer.text
    assert "We open again" not in offer.text  # open: nothing to promise about opening


@pytest.mark.parametrize(
    ("at", "reopening"),
    [
        (SUNDAY, "We open again tomorrow at 8 AM."),
        (CHRISTMAS, "We open again tomorrow at 9 AM."),
    ],
)
async def test_when_closed_the_caller_hears_the_hours_and_may_ask_for_a_call_back(
    aiohttp_client: Callable, tmp_path: Path, at: datetime, reopening: str
) -> None:
    client = await line(aiohttp_client, tmp_path, at)
    caller, turn = await press_0(client)
    assert turn.heard == []  # no "please hold" for a queue nobody serves
    assert turn.handoff is None and turn.redirect is not None
    offer = await caller.post(turn.redirect)
    assert offer.heard == [
        f"I'm sorry, nobody can take your call right now. {reopening} Our agents are available {WEEK}."
        " To have an agent call you back at the number you are calling from, press 1. If that's all, press 9."
    ]
    done = await caller.press("1")
    assert done.hung_up and "call you back" in done.text
    await caller.hang_up()
    record = await client.app[STORES].calls.get_call(caller.call_sid)
    assert record is not None and record.outcome == "callback_requested" and record.caller == caller.phone


async def test_the_emergency_switch_closes_a_line_without_a_desk(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, OPEN)
    await client.app[STORES].sql.atomic(
        [SqlSwitchStore(client.app[STORES].sql, clock=time.time).turn(EMERGENCY, True, "root")]
    )
    caller, turn = await press_0(client)
    assert turn.heard == [] and turn.handoff is None and turn.redirect is not None
    offer = await caller.post(turn.redirect)
    assert offer.heard[0].startswith(
        "I'm sorry, nobody can take your call right now. Our agents are available"
    )
    assert "We open again" not in offer.text  # no promise while a supervisor has closed the line


async def test_dial_follows_the_hours_and_a_missed_dial_offers_a_call_back(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, OPEN, IVR_AGENT_NUMBER="+15550123456")
    caller, turn = await press_0(client)
    dial = turn.handoff
    assert dial is not None and dial.tag == "Dial" and dial.findtext("Number") == "+15550123456"
    missed = await caller.transfer_ends("no-answer")
    assert "To have an agent call you back" in missed.text and not missed.hung_up
    closed = await line(aiohttp_client, tmp_path / "closed", SUNDAY, IVR_AGENT_NUMBER="+15550123456")
    caller, turn = await press_0(closed)
    assert turn.heard == [] and turn.handoff is None
    assert "We open again tomorrow at 8 AM." in (await caller.post(turn.redirect or "")).text


def test_a_broken_schedule_stops_start_up_with_its_file_line_and_reason(tmp_path: Path) -> None:
    hours = tmp_path / "hours.yaml"
    hours.write_text(
        "hours:\n  timezone: America/New_York\n  weekly:\n    mon-fri: 18:00-08:00\n    sat-sun: closed\n"
    )
    with pytest.raises(ConfigError) as raised:
        create_app(make_settings(tmp_path, IVR_HOURS=str(hours)))
    message = str(raised.value)
    assert message.startswith(f"IVR_HOURS: the business hours in {hours} cannot be used")
    assert f"{hours} line 4: '18:00-08:00' ends before it starts" in message
