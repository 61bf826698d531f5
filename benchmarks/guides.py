"""How long a caller waits for a guide's first step, and what finding a guide costs.

Time to the first step is measured as `time_to_status.py` measures the time to an order's
status: the flow engine plays the call (the shipped flow, prompts and guides), every line said
before "Step 1" is synthesised with the line's local voice (pyttsx3 and espeak-ng at its
default rate, in the call's language), the caller's first sentence is synthesised too, and
their sum is the seconds of call audio from pickup to the first step. The step's own length
is not counted. Then the CPU time of reading and checking the shipped guides, and of finding
a guide in a sentence (error code or words), each the best of several rounds.

    python benchmarks/guides.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.flow.engine import FlowEngine
from ivr.flow.guides import load_guides
from ivr.flow.loader import load_flow
from ivr.flow.steps import Say, Speech, Start
from ivr.languages import LanguagePlan
from ivr.prompts import load_catalogs
from ivr.speech.audio import decode_wav
from ivr.speech.tts import Pyttsx3Synthesizer
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "de", "sv")
FIRST_SENTENCE = {
    "en": "my dishwasher is showing error E 1 5",
    "de": "meine Spülmaschine zeigt Fehler E15",
    "sv": "diskmaskinen visar felkod E15",
}
STEP = {"en": "Step 1.", "de": "Schritt 1:", "sv": "Steg 1."}


async def time_to_first_step() -> None:
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    guides = load_guides(ROOT / "guides", LANGUAGES)
    with tempfile.TemporaryDirectory() as tmp:
        db = SQLiteDatabase(Path(tmp) / "bench.db")
        engine = FlowEngine(
            flow,
            catalogs["en"],
            SQLiteRepository(db),
            catalogs=catalogs,
            languages=LanguagePlan(LANGUAGES),
            guides=guides,
        )
        for language in LANGUAGES:
            session = engine.new_session("CAbench", "+15550199999", "+15550009999")
            session.language = language
            said = [s.text for s in await engine.handle(session, Start()) if isinstance(s, Say)]
            steps = await engine.handle(session, Speech(FIRST_SENTENCE[language], 0.9))
            texts = [s.text for s in steps if isinstance(s, Say)]
            before = said + [t for t in texts if not t.startswith(STEP[language])]
            async with Pyttsx3Synthesizer(voice=None if language == "en" else language) as voice:
                seconds = 0.0
                for text in [*before, FIRST_SENTENCE[language]]:
                    samples, rate = decode_wav(await voice.synthesize(text))
                    seconds += len(samples) / rate
            print(f"{language}: {seconds:.1f} s of call audio from pickup to the first step")
        await db.close()


def best(rounds: int, work: object) -> float:
    assert callable(work)
    times = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def cost() -> None:
    loading = best(20, lambda: load_guides(ROOT / "guides", LANGUAGES))
    print(f"reading and checking the 3 shipped guides in 3 languages: {loading * 1000:.1f} ms CPU")
    book = load_guides(ROOT / "guides", LANGUAGES)
    sentences = [(code, text) for code, text in FIRST_SENTENCE.items()] * 100
    finding = best(5, lambda: [book.find(text, code) for code, text in sentences])
    print(f"finding a guide in a caller's sentence: {finding / len(sentences) * 1e6:.0f} µs CPU each")


if __name__ == "__main__":
    asyncio.run(time_to_first_step())
    cost()
