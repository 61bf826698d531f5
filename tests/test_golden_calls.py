"""Golden whole-call transcripts of the shipped flow, replayed through the real server.

Each file in tests/golden/ is one call, as a reviewer reads it: what the line says
(`LINE:`), what the caller does (`YOU >`: keys such as `1` or `4512#`, words, or
`(silence)`), and how the call ends. The test takes the caller's side from the file, plays
it against the real webhook server (signed webhooks, demo data, the day fixed to the demo's
2026-11-23, 10 AM on the east coast, the shipped opening hours) and compares the whole
transcript with the file: any change in wording or in where a branch leads fails here and
shows as a diff. To accept a change on purpose, run with IVR_UPDATE_GOLDEN=1 and review the
diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.web.app import create_app
from tests.caller import Caller, Turn
from tests.conftest import ROOT, TODAY, load_demo_data, make_settings

NOW = datetime.combine(TODAY, time(15, 0), tzinfo=UTC)
"""Monday 10 AM in New York: the line is open (flows/hours.yaml)."""
GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("*.txt"))
UPDATE = os.environ.get("IVR_UPDATE_GOLDEN") == "1"
_KEYS = re.compile(r"[0-9*#]+")
SILENCE = "(silence)"
WIDTH = 100


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, IVR_HOURS=str(ROOT / "flows" / "hours.yaml"))


@pytest.fixture
async def client(aiohttp_client: Callable, settings: Settings) -> TestClient:
    """The line on the demo's day and hour, so dates and hours read the same on every run."""
    await load_demo_data(settings)
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY, now=lambda: NOW))
    return client


def script(text: str) -> tuple[list[str], str, list[str]]:
    """(comment lines, caller ID, what the caller does) read from a transcript file."""
    comments = [line for line in text.splitlines() if line.startswith("#")]
    found = re.search(r"^from: (\S+)$", text, re.MULTILINE)
    assert found, "a transcript names the caller ID on a 'from:' line"
    inputs = [line.removeprefix("YOU > ") for line in text.splitlines() if line.startswith("YOU > ")]
    return comments, found.group(1), inputs


def _heard(turn: Turn) -> list[str]:
    lines = [
        textwrap.fill(text, WIDTH, initial_indent="LINE: ", subsequent_indent="      ") for text in turn.heard
    ]
    if turn.handoff is not None:
        lines.append(
            f"-- handed to a person: <{turn.handoff.tag}> {(turn.handoff.text or '').strip()}".rstrip()
        )
    elif turn.hung_up:
        lines.append("-- the line hangs up")
    return lines


async def replay(client: TestClient, phone: str, inputs: list[str]) -> list[str]:
    caller = Caller(client, phone=phone)
    lines = _heard(await caller.dial())
    for said in inputs:
        lines.append(f"YOU > {said}")
        if said == SILENCE:
            turn = await caller.silence()
        elif _KEYS.fullmatch(said):
            turn = await caller.press(said)
        else:
            turn = await caller.say(said)
        lines += _heard(turn)
    await caller.hang_up()
    return lines


def test_every_branch_of_the_shipped_flow_has_a_transcript() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_a_whole_call_sounds_as_reviewed(client: TestClient, path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    comments, phone, inputs = script(text)
    lines = await replay(client, phone, inputs)
    fresh = "\n".join([*comments, f"from: {phone}", *lines]) + "\n"
    if UPDATE and fresh != text:
        await asyncio.to_thread(path.write_text, fresh)
        return
    assert fresh == text, f"{path.name} differs; rerun with IVR_UPDATE_GOLDEN=1 and review the diff"
