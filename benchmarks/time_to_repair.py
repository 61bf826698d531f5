"""Seconds of call audio from pickup to "Your repair is booked", measured as time_to_status.py
measures the time to an order's status.

Every prompt the line says before the booking is confirmed is synthesised with the line's
local voice (pyttsx3 and espeak-ng at 165 words a minute) and its real length summed, plus
one second per key pressed. The caller is Jane (+15550100001, whose number is on order 4512
with her espresso machine, under warranty), on the demo's day, 2026-11-23, with the demo's
calendar of two free slots. She says "I'd like to book a repair" at the greeting (its
synthesised length is counted as the caller's own time), then presses keys. Two paths:

- pickup: pickup (1), the first slot (1);
- drop-off: drop-off (2): no slot to choose.

    python benchmarks/time_to_repair.py

The line that starts "Your repair is booked" is the end; its own length is not counted.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.steps import Digits, Say, Speech, Start, Step
from ivr.importer import ImportKind, parse_file
from ivr.prompts import load_catalogs
from ivr.speech.audio import decode_wav
from ivr.speech.tts import Pyttsx3Synthesizer
from ivr.store.repair_bookings import DayPart, SqlRepairBookings
from ivr.store.sql import SQLiteSql
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
SECONDS_PER_KEY = 1.0
_BOOKED = re.compile(r"^Your repair is booked")
SAID = "I'd like to book a repair"
PATHS = {"pickup": ("1", "1"), "drop-off": ("2",)}


@dataclass(frozen=True, slots=True)
class Timing:
    path: str
    prompts: list[tuple[str, float]]
    keys: int

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.prompts) + self.keys * SECONDS_PER_KEY


async def heard_before_booked(engine: FlowEngine, name: str, keys: tuple[str, ...]) -> tuple[list[str], int]:
    session = engine.new_session(f"CAbench{name}", "+15550100001", "+15550009999")
    said: list[str] = []
    pressed = 0

    def take(steps: list[Step]) -> bool:
        for step in steps:
            if isinstance(step, Say):
                if _BOOKED.match(step.text):
                    return True
                said.append(step.text)
        return False

    if take(await engine.handle(session, Start())):
        return said, pressed
    said.append(SAID)  # the caller's sentence: counted at the line's voice, like a prompt
    if take(await engine.handle(session, Speech(SAID, 0.9))):
        return said, pressed
    for key in keys:
        pressed += len(key)
        if take(await engine.handle(session, Digits(key))):
            return said, pressed
    raise SystemExit(f"{name}: not booked after pressing {' '.join(keys)}; heard {said}")


async def measure() -> list[Timing]:
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    timings = []
    async with Pyttsx3Synthesizer() as synthesizer:
        for name, keys in PATHS.items():
            with tempfile.TemporaryDirectory() as tmp:
                db = SQLiteDatabase(Path(tmp) / "bench.db")
                repository = SQLiteRepository(db)
                for kind in ImportKind:
                    await repository.upsert(parse_file(kind, ROOT / "demo" / f"{kind.value}.csv"))
                repairs = SqlRepairBookings(SQLiteSql(db))
                await repairs.add_slot(TODAY + timedelta(days=1), DayPart.MORNING, "bench")
                await repairs.add_slot(TODAY + timedelta(days=2), DayPart.AFTERNOON, "bench")
                engine = FlowEngine(flow, catalogs["en"], repository, today=lambda: TODAY, repairs=repairs)
                texts, pressed = await heard_before_booked(engine, name, keys)
                durations = []
                for text in texts:
                    samples, rate = decode_wav(await synthesizer.synthesize(text))
                    durations.append((text, len(samples) / rate))
                timings.append(Timing(name, durations, pressed))
                await db.close()
    return timings


def main() -> None:
    for timing in asyncio.run(measure()):
        print(f"{timing.path}: {timing.seconds:.1f} s before 'Your repair is booked'")
        for text, seconds in timing.prompts:
            print(f"  {seconds:5.1f} s  {text[:90]}")
        print(f"  {timing.keys * SECONDS_PER_KEY:5.1f} s  {timing.keys} key presses")


if __name__ == "__main__":
    main()
