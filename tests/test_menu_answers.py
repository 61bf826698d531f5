"""What a caller's answer to a menu picks: keys, phrases, keys named aloud, near misses.

Driven through the flow engine, so each test checks what the caller hears next.
"""

from __future__ import annotations

import pytest

from ivr.flow.engine import FlowEngine
from ivr.flow.steps import Digits, Event, Gather, Say, Speech, Start, Step, Transfer
from ivr.locales.en import KEYPAD_WORDS
from ivr.mediastream.call import grammar_for
from tests.small_flow import SMALL_FLOW, said, small_engine

ASKED_FOR_THE_ORDER = [said("ask_order_number")]
GOODBYE = [said("goodbye")]
SOMETHING_ELSE = [said("anything_else"), said("goodbye")]
AGENT = [said("transfer")]
NOT_UNDERSTOOD = [said("no_match"), said("main_menu")]


async def answer(event: Event, engine: FlowEngine | None = None) -> tuple[list[str], list[Step]]:
    """Call, hear the menu, answer it; returns what the caller hears next, and the steps."""
    engine = engine or small_engine()
    session = engine.new_session("CA1", "+15550100001", "+15550009999")
    await engine.handle(session, Start())
    steps = await engine.handle(session, event)
    return [step.text for step in steps if isinstance(step, Say)], steps


@pytest.mark.parametrize(
    ("key", "heard"),
    [("1", ASKED_FOR_THE_ORDER), ("2", GOODBYE), ("#", SOMETHING_ELSE), ("7", NOT_UNDERSTOOD)],
)
async def test_keys_pick_their_option(key: str, heard: list[str]) -> None:
    assert (await answer(Digits(key)))[0] == heard


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("two", GOODBYE),
        ("one", ASKED_FOR_THE_ORDER),
        ("pound", SOMETHING_ELSE),
        ("hash", SOMETHING_ELSE),
        ("press pound", SOMETHING_ELSE),
        ("2", GOODBYE),  # Twilio's recogniser writes digits as digits
        ("nine", NOT_UNDERSTOOD),  # a key the menu does not offer
        ("one two", NOT_UNDERSTOOD),  # two keys at once: which one?
    ],
)
async def test_a_key_named_aloud_picks_its_option(text: str, heard: list[str]) -> None:
    assert (await answer(Speech(text)))[0] == heard


async def test_saying_zero_reaches_an_agent_where_the_menu_offers_one() -> None:
    heard, steps = await answer(Speech("zero"))
    assert heard == AGENT
    assert isinstance(steps[-1], Transfer) and steps[-1].reason == "caller_asked"


async def test_saying_zero_where_the_menu_offers_no_agent_is_not_understood() -> None:
    engine = small_engine(SMALL_FLOW.replace("    retries: 1\n", "    retries: 1\n    agent: false\n"))
    assert (await answer(Speech("zero"), engine))[0] == NOT_UNDERSTOOD


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("order status please", ASKED_FOR_THE_ORDER),
        ("it's about a repair", GOODBYE),
        ("something else", SOMETHING_ELSE),
        ("I have two questions about my order", ASKED_FOR_THE_ORDER),  # the phrase, not the 'two'
        ("my repare", GOODBYE),  # a near miss of a single word still counts
        ("the weather", NOT_UNDERSTOOD),
    ],
)
async def test_a_listed_phrase_picks_its_option(text: str, heard: list[str]) -> None:
    assert (await answer(Speech(text)))[0] == heard


async def test_every_key_word_the_menu_understands_is_one_local_speech_listens_for() -> None:
    engine = small_engine()
    session = engine.new_session("CA1", "+15550100001", "+15550009999")
    gather = (await engine.handle(session, Start()))[-1]
    assert isinstance(gather, Gather)
    offered = set(grammar_for(gather, engine.flow.agent_words))
    assert set(KEYPAD_WORDS) <= offered
    assert {"order status", "repair", "something else", "agent"} <= offered
