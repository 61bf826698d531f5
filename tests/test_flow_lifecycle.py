"""Publishing and rolling back while the line takes calls, through the real server.

A call finishes on the version it started with; the next call gets what is published now,
on this instance at once and on another instance sharing the database within a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.flow.files import LINE_FLOW, FlowFiles, read_files
from ivr.session import CallSession
from ivr.versions.store import FlowStore
from ivr.web.app import create_app
from ivr.web.keys import FLOWS
from ivr.web.parts import PUBLISHED_CHECK_EVERY
from tests.caller import Caller
from tests.conftest import ROOT, TODAY, load_demo_data, make_settings

START = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
OLD_WELCOME = "Thanks for calling Acme after-sales support."
NEW_WELCOME = "Hello from the new Acme support line."


def new_version() -> FlowFiles:
    """A new greeting, and menu keys 1 and 2 swapped (1 is now repairs)."""
    flow = START.flow.replace(
        "        goto: order_number\n      - key: 2\n", "        goto: repair_ticket\n      - key: 2\n", 1
    )
    flow = flow.replace(
        "        goto: repair_ticket\n      - key: 3\n", "        goto: order_number\n      - key: 3\n", 1
    )
    assert flow != START.flow
    prompts = START.prompts["en"].replace(f"welcome: {OLD_WELCOME}", f"welcome: {NEW_WELCOME}")
    return FlowFiles(flow, {"en": prompts})


def flows_of(client: TestClient) -> FlowStore:
    return client.app[FLOWS]


async def test_a_call_in_progress_finishes_on_its_version_new_calls_get_the_new_one(
    client: TestClient,
) -> None:
    old = Caller(client)
    assert (await old.dial_to_menu()).heard[0] == OLD_WELCOME
    assert "key in your order number" in (await old.press("1")).text

    version = await flows_of(client).publish(LINE_FLOW, by="alice", files=new_version(), note="swap 1 and 2")
    assert version.number == 2

    fresh = Caller(client)
    assert (await fresh.dial_to_menu()).heard[0] == NEW_WELCOME
    assert "repair ticket number" in (await fresh.press("1")).text  # the new menu

    # The call that started before the publish keeps the old menu and words to the end.
    assert "has shipped with UPS" in (await old.press("4512")).text
    back = await old.press("1")  # "1 for the main menu"
    assert "press 1 for orders" in back.text
    assert "key in your order number" in (await old.press("1")).text
    await old.press("4512")
    end = await old.press("9")
    assert end.heard == ["Thanks for calling Acme. Goodbye."] and end.hung_up

    # The new call keeps its version too, through a rollback.
    await flows_of(client).rollback(LINE_FLOW, None, by="carol")
    assert "waiting for parts" in (await fresh.press("3141")).text

    again = Caller(client)
    assert (await again.dial_to_menu()).heard[0] == OLD_WELCOME
    assert "key in your order number" in (await again.press("1")).text


async def test_a_refused_publish_leaves_callers_on_the_published_version(client: TestClient) -> None:
    broken = FlowFiles(START.flow.replace("next: find_return", "next: nowhere"), new_version().prompts)
    with pytest.raises(ValueError, match="next goes to 'nowhere'"):
        await flows_of(client).publish(LINE_FLOW, by="alice", files=broken)
    caller = Caller(client)
    assert (await caller.dial_to_menu()).heard[0] == OLD_WELCOME


async def test_a_publish_on_one_instance_reaches_new_calls_on_another(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    from tests.test_faults import load_demo_data_into

    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url)
    if database_url.startswith("sqlite"):
        await load_demo_data(settings)
    else:
        await load_demo_data_into(settings)
    # Both start together on an empty database: the starting files are stored once.
    first, second = await asyncio.gather(
        aiohttp_client(create_app(settings, today=lambda: TODAY)),
        aiohttp_client(create_app(settings, today=lambda: TODAY)),
    )
    assert [v.number for v in await flows_of(first).history(LINE_FLOW)] == [1]
    on_second = Caller(second)
    assert (await on_second.dial_to_menu()).heard[0] == OLD_WELCOME
    await on_second.press("1")

    await flows_of(first).publish(LINE_FLOW, by="alice", files=new_version())
    published_at = time.monotonic()
    while True:
        heard = (await Caller(second).dial_to_menu()).heard[0]
        if heard == NEW_WELCOME:
            break
        assert heard == OLD_WELCOME
        waited = time.monotonic() - published_at
        assert waited < PUBLISHED_CHECK_EVERY + 1, "the other instance never switched"
        await asyncio.sleep(0.1)
    # Its call from before goes on with the old menu, served by either instance.
    assert "has shipped with UPS" in (await on_second.press("4512")).text
    on_second.client = first
    assert "press 1 for orders" in (await on_second.press("1")).text
    assert "key in your order number" in (await on_second.press("1")).text


def test_a_session_saved_before_versions_still_loads() -> None:
    session = CallSession("CA1", "+15550100001", "+15550009999", "support", "main_menu", 1.0, flow_version=3)
    data = session.to_json()
    assert '"flow_version":3' in data
    old = CallSession.from_json(data.replace(',"flow_version":3', ""))
    assert (old.flow_version, old.state) == (0, "main_menu")


async def test_with_local_speech_a_new_version_is_rendered_before_anyone_calls(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    from ivr.web.keys import AUDIO

    settings = make_settings(tmp_path, IVR_TTS="local")
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    cache = client.server.app[AUDIO]
    recording = cache.id_for(NEW_WELCOME)
    await flows_of(client).publish(LINE_FLOW, by="alice", files=new_version())
    deadline = time.monotonic() + 90
    while cache.path_for(recording) is None:  # no call is made: the background render does it
        assert time.monotonic() < deadline, "the new greeting was never pre-rendered"
        await asyncio.sleep(0.2)
    turn = await Caller(client).dial_to_menu()
    assert turn.root.findtext(".//Play", "").endswith(f"/audio/{recording}.wav")
