"""Seconds of call audio before a caller hears their order's status.

What a caller waits through is the length of every prompt before the answer plus the time
to press the keys. This script plays whole calls through the flow engine (the demo data,
the day fixed to the demo's 2026-11-23), renders every prompt the line says before the
order's status with the local synthesiser the line uses in local TTS mode (pyttsx3 and
espeak-ng at the line's 165 words a minute), sums the real audio durations, and adds one
second per key pressed (`4512#` is five). Two paths:

- caller ID: Jane calls from +15550100001, the phone on her orders; she presses what the
  flow needs to hear her latest order's status;
- typed number: a caller from a number not on file presses 1 for orders and keys in order
  7788 and its postal code 10001.

    python benchmarks/time_to_status.py                       # this tree's flow and prompts
    python benchmarks/time_to_status.py --flow ../main/flows/support.yaml --prompts ../main/prompts \
        --caller-id-keys 1 4512#                              # an earlier flow, same method

The status is the first line that starts "Order <digits>"; its own length is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.steps import Digits, Say, Start, Step
from ivr.importer import ImportKind, parse_file
from ivr.prompts import load_catalogs
from ivr.speech.audio import decode_wav
from ivr.speech.tts import Pyttsx3Synthesizer
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
SECONDS_PER_KEY = 1.0
_STATUS = re.compile(r"^Order \d( \d)* ")


@dataclass(frozen=True, slots=True)
class Path_:
    name: str
    caller: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Timing:
    path: str
    prompts: list[tuple[str, float]]
    keys: int

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.prompts) + self.keys * SECONDS_PER_KEY


async def heard_before_status(engine: FlowEngine, path: Path_) -> tuple[list[str], int]:
    """The prompts said before the status, and how many keys were pressed to get there."""
    session = engine.new_session("CAbench", path.caller, "+15550009999")
    said: list[str] = []
    keys = 0

    def take(steps: list[Step]) -> bool:
        for step in steps:
            if isinstance(step, Say):
                if _STATUS.match(step.text):
                    return True
                said.append(step.text)
        return False

    if take(await engine.handle(session, Start())):
        return said, keys
    for pressed in path.keys:
        keys += len(pressed)
        if take(await engine.handle(session, Digits(pressed))):
            return said, keys
    raise SystemExit(f"{path.name}: no order status after pressing {' '.join(path.keys)}; heard {said}")


async def measure(flow_file: Path, prompts: Path, paths: list[Path_]) -> list[Timing]:
    catalogs = load_catalogs(prompts)
    flow, _ = load_flow(flow_file, catalogs)
    with tempfile.TemporaryDirectory() as tmp:
        db = SQLiteDatabase(Path(tmp) / "bench.db")
        repository = SQLiteRepository(db)
        for kind in ImportKind:
            await repository.upsert(parse_file(kind, ROOT / "demo" / f"{kind.value}.csv"))
        engine = FlowEngine(flow, catalogs["en"], repository, today=lambda: TODAY)
        timings = []
        async with Pyttsx3Synthesizer() as synthesizer:  # the line's defaults
            for path in paths:
                texts, keys = await heard_before_status(engine, path)
                durations = []
                for text in texts:
                    samples, rate = decode_wav(await synthesizer.synthesize(text))
                    durations.append((text, len(samples) / rate))
                timings.append(Timing(path.name, durations, keys))
        await db.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flow", type=Path, default=ROOT / "flows" / "support.yaml")
    parser.add_argument("--prompts", type=Path, default=ROOT / "prompts")
    parser.add_argument("--caller-id-keys", nargs="+", default=["1"], help="keys Jane presses (default: 1)")
    parser.add_argument("--typed-keys", nargs="+", default=["1", "7788#", "10001#"])
    args = parser.parse_args()
    paths = [
        Path_("caller ID", "+15550100001", tuple(args.caller_id_keys)),
        Path_("typed number", "+15550199999", tuple(args.typed_keys)),
    ]
    for timing in asyncio.run(measure(args.flow, args.prompts, paths)):
        print(f"{timing.path}: {timing.seconds:.1f} s before the status")
        for text, seconds in timing.prompts:
            print(f"  {seconds:5.1f} s  {text[:90]}")
        print(f"  {timing.keys * SECONDS_PER_KEY:5.1f} s  {timing.keys} key presses")


if __name__ == "__main__":
    main()
