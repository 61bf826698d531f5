"""Callers who say what they want in their own words get that answer directly.

tests/data/utterances_en.yaml holds real-sounding requests labelled with where they should
go. Each is said at the shipped flow's main menu, through the real engine and matcher; at
least 90 % must land where labelled (the share is quoted in the README).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.steps import Speech
from tests.small_flow import CATALOGS, PROMPTS, NoRecords

ROOT = Path(__file__).resolve().parent.parent
UTTERANCES = ROOT / "tests" / "data" / "utterances_en.yaml"
THRESHOLD = 0.90


async def route(engine: FlowEngine, text: str) -> str:
    """The first state a caller saying `text` at the main menu is taken to."""
    session = engine.new_session("CAtest", "+15550199999", "+15550009999")
    session.state = "main_menu"
    session.path.append("main_menu")
    await engine.handle(session, Speech(text, 0.9))
    return session.path[1]


def labelled() -> list[tuple[str, str]]:
    data = yaml.safe_load(UTTERANCES.read_text())
    return [(text, dest) for dest, texts in data.items() for text in texts]


async def test_the_utterance_set_is_big_and_varied_enough() -> None:
    items = labelled()
    assert len(items) >= 150
    assert len({text.lower() for text, _ in items}) == len(items), "a sentence is listed twice"
    assert len({dest for _, dest in items}) >= 9


async def test_at_least_90_percent_of_callers_own_words_reach_their_answer() -> None:
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", CATALOGS)
    engine = FlowEngine(flow, PROMPTS, NoRecords())
    misrouted = []
    items = labelled()
    for text, dest in items:
        got = await route(engine, text)
        if got != dest:
            misrouted.append(f"{text!r}: {got} (expected {dest})")
    share = 1 - len(misrouted) / len(items)
    print(f"routed correctly: {share:.1%} of {len(items)}")
    assert share >= THRESHOLD, "\n".join(misrouted)
