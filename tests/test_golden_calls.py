"""Golden whole-call transcripts of the shipped flow, replayed through the real server.

Each file in tests/golden/ is one call, as a reviewer reads it: what the line says
(`LINE:`), what the caller does (`YOU >`: keys such as `1` or `4512#`, words, or
`(silence)`), and how the call ends. The test takes the caller's side from the file, plays
it against the real webhook server (signed webhooks, demo data, the day fixed to the demo's
2026-11-23) and compares the whole transcript with the file: any change in wording or in
where a branch leads fails here and shows as a diff. To accept a change on purpose, run
with IVR_UPDATE_GOLDEN=1 and review the diff of tests/golden/ like any other change.

The line serves English, German and Swedish, as shipped: a call goes to the line's English
number unless its file names another on a `to:` line (the German or Swedish number, or the
shared one, which asks for the language first). German and Swedish calls are in
tests/golden/de/ and tests/golden/sv/. The line runs the shipped markets (markets/*.yaml):
each number's hours, places, prices and rights. A call happens on the demo's Monday at 10 AM
in New York unless its file names another instant on an `at:` line (a German call after
hours in Berlin, while New York is still open). Some of them are also replayed with the prompts
synthesised here (IVR_TTS=local): the same call, each line played as audio in the
language's espeak-ng voice instead of `<Say>`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.records import Order
from ivr.speech.audio import decode_wav, rms
from ivr.store.repair_bookings import DayPart, RepairOption, Slot, SqlRepairBookings
from ivr.testing.caller import PUBLIC_URL, Caller, Turn
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("**/*.txt"))
ENGLISH = "+15550009999"
"""The number `ivr.testing.caller` dials by default: the line's English number here."""
NUMBERS = f"{ENGLISH}=en,+4930555010=de,+46812345=sv"
"""The demo's numbers (scripts/demo): one per language; any other number is shared."""
UPDATE = os.environ.get("IVR_UPDATE_GOLDEN") == "1"
_KEYS = re.compile(r"[0-9*#]+")
SILENCE = "(silence)"
WIDTH = 100


NOW = datetime.combine(TODAY, time(15, 0), tzinfo=UTC)
"""Monday 10 AM in New York: the line is open (flows/hours.yaml)."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        IVR_MARKETS=str(ROOT / "markets"),
        IVR_LANGUAGES="en,de,sv",
        IVR_NUMBER_LANGUAGES=NUMBERS,
    )


class Clock:
    """The instant the line reads its hours against: the demo's, or a transcript's `at:`."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


SLOTS = [
    (TODAY + timedelta(days=1), DayPart.MORNING),
    (TODAY + timedelta(days=2), DayPart.AFTERNOON),
    (TODAY + timedelta(days=3), DayPart.MORNING),
    (TODAY + timedelta(days=10), DayPart.AFTERNOON),
]
"""The repair calendar every call finds: Tuesday morning, Wednesday afternoon, Thursday
morning, and the afternoon of Thursday, December 3 (beyond the week: said with its date)."""


@pytest.fixture
async def client(aiohttp_client: Callable, settings: Settings, clock: Clock) -> TestClient:
    """The line on the demo's day and hour, so dates and hours read the same on every run."""
    await load_demo_data(settings)
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY, now=clock))
    calendar = SqlRepairBookings(client.app[STORES].sql)
    for day, part in SLOTS:
        await calendar.add_slot(day, part, "golden")
    return client


ELSEWHERE = "ELSEWHERE > "
"""A transcript line for what happens outside this call: `ELSEWHERE > another caller books
2026-11-24 morning` takes that slot between two of this caller's turns."""
_ELSEWHERE = re.compile(r"another caller books (\S+) (morning|afternoon)")
_BOOKED = re.compile(r"^booked: (\S+) (pickup|visit|dropoff)(?: (\S+) (morning|afternoon))?$", re.MULTILINE)
"""A transcript's `booked:` line: the caller's product already has a repair booked from their
number before the call (serial number, how, and the slot), to hear, move or cancel."""


async def _book_before(client: TestClient, phone: str, to: str, text: str) -> None:
    found = _BOOKED.search(text)
    if found is None:
        return
    serial, option, day, part = found.groups()
    calendar = SqlRepairBookings(client.app[STORES].sql)
    language = dict(pair.split("=") for pair in NUMBERS.split(","))[to or ENGLISH]
    orders = [o.order_number for o in await _orders(client, phone)]
    (product,) = [
        p
        for p in await calendar.products_of(orders, "" if language == "en" else language)
        if p.serial_number == serial
    ]
    slot = Slot(date.fromisoformat(day), DayPart(part)) if day else None
    await calendar.book(
        product, phone, RepairOption(option), slot, covered=True, guide_outcome="", language="",
        booked_on=TODAY,
    )  # fmt: skip


async def _orders(client: TestClient, phone: str) -> list[Order]:
    return list(await client.app[STORES].repository.orders_of(phone))


async def _elsewhere(client: TestClient, line: str) -> None:
    found = _ELSEWHERE.fullmatch(line)
    assert found, f"unknown ELSEWHERE line: {line}"
    day, part = date.fromisoformat(found.group(1)), DayPart(found.group(2))
    taken = await client.app[STORES].sql.execute(
        "UPDATE repair_slots SET booking = 'elsewhere' WHERE day = $1 AND part = $2 AND booking = ''",
        day.isoformat(),
        part.value,
    )
    assert taken == 1, f"{line}: that slot is not free"


class Dialler(Caller):
    """A caller who dials a given number of the line (its `To`)."""

    def __init__(self, client: TestClient, phone: str, to: str) -> None:
        super().__init__(client, phone=phone)
        self.to = to

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**super().params(extra), "To": self.to}


def script(text: str) -> tuple[list[str], str, str, list[str]]:
    """(comment lines, caller ID, number dialled, what the caller does) read from a transcript."""
    comments = [line for line in text.splitlines() if line.startswith(("#", "booked: "))]
    found = re.search(r"^from: (\S+)$", text, re.MULTILINE)
    assert found, "a transcript names the caller ID on a 'from:' line"
    to = re.search(r"^to: (\S+)$", text, re.MULTILINE)
    inputs = [
        line.removeprefix("YOU > ")
        for line in text.splitlines()
        if line.startswith("YOU > ") or line.startswith(ELSEWHERE)
    ]
    return comments, found.group(1), to.group(1) if to else "", inputs


def instant(text: str) -> datetime | None:
    """The transcript's `at:` instant (ISO 8601 with its offset), if it names one."""
    found = re.search(r"^at: (\S+)$", text, re.MULTILINE)
    return datetime.fromisoformat(found.group(1)) if found else None


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


async def replay(client: TestClient, phone: str, to: str, inputs: list[str]) -> list[str]:
    caller = Dialler(client, phone, to or ENGLISH)
    lines = _heard(await caller.dial())
    for said in inputs:
        if said.startswith(ELSEWHERE):
            lines.append(said)
            await _elsewhere(client, said.removeprefix(ELSEWHERE))
            continue
        lines.append(f"YOU > {said}")
        if said == SILENCE:
            turn = await caller.silence()
        elif _KEYS.fullmatch(said):
            turn = await caller.press(said)
        else:
            turn = await caller.say(said)
        lines += _heard(turn)
        while turn.redirect is not None and not turn.heard and turn.handoff is None:
            turn = await caller.post(turn.redirect)  # a closed line: the flow's fallback speaks
            lines += _heard(turn)
    await caller.hang_up()
    return lines


def test_every_branch_of_the_shipped_flow_has_a_transcript() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("language", ["de", "sv"])
def test_german_and_swedish_calls_cover_the_main_branches(language: str) -> None:
    """Order status, repair, warranty, the returns answer and a hand-off, in each language."""
    paths = [p for p in FILES if p.parent.name == language]
    heard = "\n".join(p.read_text() for p in paths)
    assert "handed to a person" in heard
    for branch in ("order", "repair", "warranty", "returns", "agent"):
        assert any(branch in p.stem for p in paths), f"no {language} transcript for {branch}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(GOLDEN).with_suffix("")) for p in FILES])
async def test_a_whole_call_sounds_as_reviewed(client: TestClient, clock: Clock, path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    comments, phone, to, inputs = script(text)
    at = instant(text)
    clock.at = at or NOW
    await _book_before(client, phone, to, text)
    lines = await replay(client, phone, to, inputs)
    header = [
        *comments,
        f"from: {phone}",
        *([f"to: {to}"] if to else []),
        *([f"at: {at.isoformat()}"] if at else []),
    ]
    fresh = "\n".join([*header, *lines]) + "\n"
    if UPDATE and fresh != text:
        await asyncio.to_thread(path.write_text, fresh)
        return
    assert fresh == text, f"{path.name} differs; rerun with IVR_UPDATE_GOLDEN=1 and review the diff"


LOCAL = [p for p in FILES if p.parent.name in ("de", "sv") and "number" in p.stem]
"""The German and Swedish calls replayed in local voice: a hand-off and the shared number."""
ESPEAK = {"de": "gmw/de", "sv": "gmq/sv"}


def _shape(lines: list[str]) -> list[str]:
    """A transcript with what each LINE says left out (local mode plays audio, not text)."""
    return ["LINE:" if line.startswith("LINE: ") else line for line in lines if not line.startswith("      ")]


@pytest.mark.parametrize("path", LOCAL, ids=[str(p.relative_to(GOLDEN).with_suffix("")) for p in LOCAL])
async def test_a_german_or_swedish_call_sounds_the_same_in_local_voice(
    aiohttp_client: Callable, tmp_path: Path, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.speech.tts")
    settings = make_settings(
        tmp_path, IVR_LANGUAGES="en,de,sv", IVR_NUMBER_LANGUAGES=NUMBERS, IVR_TTS="local"
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    text = await asyncio.to_thread(path.read_text)
    _, phone, to, inputs = script(text)
    lines = await replay(client, phone, to, inputs)
    reviewed = [line for line in text.splitlines() if not line.startswith(("#", "from: ", "to: ", "at: "))]
    assert _shape(lines) == _shape(reviewed)
    played = [line.removeprefix("LINE: ") for line in lines if line.startswith("LINE: ")]
    assert all(url.startswith(f"{PUBLIC_URL}/audio/") for url in played), played
    response = await client.get(played[-1].removeprefix(PUBLIC_URL))
    samples, rate = decode_wav(await response.read())
    assert rate == 8000 and len(samples) / rate > 1.0 and rms(samples) > 300
    started = [r.getMessage() for r in caplog.records if "tts_worker_started" in r.getMessage()]
    assert any(f"voice {ESPEAK[path.parent.name]}," in line for line in started), started
