"""The issue's known mix of calls, played through the real server with signed webhooks.

Each kind of caller is a function; `play_mix` plays 20 resolved by the line, 10 asking for
an agent, 5 not understood three times, 5 hanging up at the main menu and 5 abandoning the
queue, and returns nothing but what a test expects to count. Every caller rings from a number
with nothing on file, so the line opens at the main menu (a known number is first offered its
order). The agent desk is the line's
own (the Twilio fake places its calls); callers who reach an agent are bridged through the
desk's queue store as an agent's accepted offer bridges them (ringing 15 agents' phones
adds nothing the insights read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.agents.web import AGENT_LINE
from ivr.testing.caller import STRANGER_PHONE, Caller

MISHEARD = ["blue elephants", "my fridge is singing", "blue elephants"]


def stats(data_dir: Path, *args: str) -> dict:
    """`ivr stats --json` from today on, as an operator runs it on the line's database."""
    env = {**os.environ, "IVR_DATA_DIR": str(data_dir)}
    today = datetime.now(UTC).date().isoformat()
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "stats", "--since", today, "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def resolved(client: TestClient, topic: int) -> Caller:
    caller = Caller(client, STRANGER_PHONE)
    await caller.dial()
    if topic % 3 == 0:
        await caller.say("where is my order")
        await caller.press("4512#")  # not the caller's own number: the postal code first
        turn = await caller.press("94107#")
        assert "has shipped" in turn.text, turn.text
    elif topic % 3 == 1:
        await caller.press("2")
        turn = await caller.press("3141#")
        assert "waiting for parts" in turn.text, turn.text
    else:
        await caller.press("4")
        turn = await caller.say("opening hours")
    for _ in range(4):  # decline any offer (the tracking text's "press 2"), then say goodbye ("press 9")
        if turn.hung_up:
            break
        turn = await caller.press("2" if "Otherwise, press 2" in turn.text else "9")
    assert turn.hung_up, turn.twiml
    await caller.hang_up()
    return caller


async def _bridge(client: TestClient, caller: Caller) -> None:
    desk = client.app[AGENT_LINE].desk
    entry = await desk.store.queue.for_call(caller.call_sid)
    assert entry is not None
    await desk.sql.atomic([desk.store.queue.bridge(entry.id, "ann")])
    assert await desk.store.queue.finish(entry.id)


async def asks_for_agent(client: TestClient, spoken: bool) -> Caller:
    caller = Caller(client, STRANGER_PHONE)
    await caller.dial()
    turn = await (caller.say("agent please") if spoken else caller.press("0"))
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue", turn.twiml
    await _bridge(client, caller)
    await caller.hang_up()
    return caller


async def not_understood(client: TestClient) -> Caller:
    caller = Caller(client, STRANGER_PHONE)
    await caller.dial()
    for words in MISHEARD:
        turn = await caller.say(words)
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue", turn.twiml
    await _bridge(client, caller)
    await caller.hang_up()
    return caller


async def hangs_up_at_main_menu(client: TestClient) -> Caller:
    caller = Caller(client, STRANGER_PHONE)
    await caller.dial()
    await caller.hang_up()
    return caller


async def abandons_queue(client: TestClient) -> Caller:
    caller = Caller(client, STRANGER_PHONE)
    await caller.dial()
    turn = await caller.press("0")
    assert turn.handoff is not None
    await caller.post(turn.handoff.get("action", ""), {"QueueResult": "hangup", "QueueTime": "12"})
    await caller.hang_up()
    return caller


async def play_mix(client: TestClient) -> None:
    for n in range(20):
        await resolved(client, n)
    for n in range(10):
        await asks_for_agent(client, spoken=n % 2 == 0)
    for _ in range(5):
        await not_understood(client)
    for _ in range(5):
        await hangs_up_at_main_menu(client)
    for _ in range(5):
        await abandons_queue(client)
