"""Callers who say what they want in their own words get that answer directly, in each language.

tests/data/utterances_<language>.yaml holds real-sounding requests labelled with where they
should go: English, German and Swedish, each written as callers of that language talk, not
translated from one another. Each is said at the shipped flow's main menu in a call speaking
that language, through the real engine and matcher; at least 90 % must land where labelled
(the set the phrase lists were first written against; the measured figures are
tests/test_understanding.py's, see docs/flows.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from ivr.flow.engine import CONFIRMING, FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.schema import ActionState
from ivr.flow.steps import Speech
from ivr.languages import LanguagePlan
from ivr.locales import YES_WORDS
from ivr.records import Order, Repair
from tests.small_flow import CATALOGS, PROMPTS, NoRecords

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
THRESHOLD = 0.90
SIZES = {"en": 150, "de": 100, "sv": 100}
"""The least number of labelled sentences per language."""


async def route(engine: FlowEngine, language: str, text: str) -> str:
    """The first state a caller speaking `language` who says `text` at the main menu is taken to
    (when the line asks "Is this about …?", where saying yes takes them)."""
    session = engine.new_session("CAtest", "+15550199999", "+15550009999")
    session.language = language
    session.state = "main_menu"
    session.path.append("main_menu")
    await engine.handle(session, Speech(text, 0.9))
    if len(session.path) == 1 and any(key.startswith(CONFIRMING) for key in session.attempts):
        await engine.handle(session, Speech(YES_WORDS[language][0], 0.9))
    # A lookup on the way (a return is checked against the caller's orders first) is not an
    # answer: where the caller lands after it is.
    heard = [name for name in session.path[1:] if not isinstance(engine.flow.states[name], ActionState)]
    return heard[0] if heard else "main_menu"


class NothingOnFile(NoRecords):
    """A line with no records: a number said with the request is looked up and not found."""

    async def order(self, order_number: str) -> None:
        return None

    async def warranty(self, serial_number: str) -> None:
        return None

    async def repair(self, ticket_number: str) -> None:
        return None

    async def orders_of(self, phone: str) -> list[Order]:
        return []

    async def repairs_of(self, phone: str) -> list[Repair]:
        return []

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        return 0


def labelled(language: str) -> list[tuple[str, str]]:
    data = yaml.safe_load((DATA / f"utterances_{language}.yaml").read_text())
    return [(text, dest) for dest, texts in data.items() for text in texts]


@pytest.mark.parametrize("language", SIZES)
async def test_the_utterance_set_is_big_and_varied_enough(language: str) -> None:
    items = labelled(language)
    assert len(items) >= SIZES[language]
    assert len({text.lower() for text, _ in items}) == len(items), "a sentence is listed twice"
    assert len({dest for _, dest in items}) >= 9


@pytest.mark.parametrize("language", SIZES)
async def test_at_least_90_percent_of_callers_own_words_reach_their_answer(language: str) -> None:
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", CATALOGS)
    engine = FlowEngine(
        flow, PROMPTS, NothingOnFile(), catalogs=CATALOGS, languages=LanguagePlan(tuple(SIZES))
    )
    misrouted = []
    items = labelled(language)
    for text, dest in items:
        got = await route(engine, language, text)
        if got != dest:
            misrouted.append(f"{text!r}: {got} (expected {dest})")
    share = 1 - len(misrouted) / len(items)
    print(f"{language}: routed correctly: {share:.1%} of {len(items)}")
    assert share >= THRESHOLD, "\n".join(misrouted)
