"""Understanding callers: menu words, intents in their own words, and menu prompts' choices."""

from __future__ import annotations

import time
from pathlib import Path

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.matching import IntentMatcher, choose, named_choices
from ivr.flow.schema import MenuState
from ivr.flow.steps import Gather, Start
from ivr.mediastream.call import grammar_for
from tests.small_flow import CATALOGS, PROMPTS, NoRecords

ROOT = Path(__file__).resolve().parent.parent
FLOW, _ = load_flow(ROOT / "flows" / "support.yaml", CATALOGS)
MATCHER = IntentMatcher(FLOW.intents, "en")


def menu(name: str) -> MenuState:
    state = FLOW.states[name]
    assert isinstance(state, MenuState)
    return state


def test_a_request_in_the_callers_own_words_finds_its_intent_despite_filler_and_endings() -> None:
    for said, intent in (
        ("um I'd like to return the blender I bought", "returns"),
        ("I returned it last week, where's my refund", "returns"),
        ("what time do you close on saturday", "hours"),
        ("the technician still hasn't fixed my oven", "repair_status"),
    ):
        found = MATCHER.match(said)
        assert found is not None and found.intent == intent, said
    assert MATCHER.match("purple elephants") is None
    assert MATCHER.match("um well") is None


def test_german_and_swedish_compounds_and_endings_are_understood_by_their_parts() -> None:
    """Neither 'Wartungspaket' nor 'serviceabonnemanget' is a training phrase: their parts are."""
    for language, said, intent in (
        ("de", "Ich interessiere mich für ein Wartungspaket", "service_plans"),
        ("de", "Wie lange gilt meine Herstellergarantie noch", "warranty_status"),
        ("sv", "Vad kostar serviceabonnemanget", "service_plans"),
        ("sv", "Jag vill returnera dammsugaren", "returns"),
    ):
        found = IntentMatcher(FLOW.intents, language).match(said)
        assert found is not None and found.intent == intent, said


def test_a_request_is_understood_in_well_under_two_milliseconds() -> None:
    matcher = IntentMatcher(FLOW.intents, "de")
    started = time.perf_counter()
    for _ in range(200):
        matcher.ranked("Ich warte jetzt schon seit drei Wochen auf meinen Kühlschrank, wo bleibt der?")
    assert (time.perf_counter() - started) / 200 < 0.002


def test_the_intent_covering_more_of_what_was_said_wins() -> None:
    found = MATCHER.match("tell me about the warranty coverage")
    assert found is not None and found.intent == "warranty_cover"
    found = MATCHER.match("is my dishwasher still under warranty")
    assert found is not None and found.intent == "warranty_status"


def test_a_menus_own_words_win_over_an_intent_matching_no_more() -> None:
    offer = menu("caller_orders")
    assert choose(offer, "yes", MATCHER).key == "1"
    assert choose(offer, "another order", MATCHER).key == "2"
    picked = choose(offer, "actually I want to return my blender", MATCHER)
    assert picked.intent is not None and picked.intent.goto == "return_check"
    picked = choose(offer, "no, I want to return my blender", MATCHER)  # "no" is not the whole answer
    assert picked.intent is not None and picked.intent.goto == "return_check"
    assert choose(offer, "no thanks", MATCHER).key == "3"
    assert choose(menu("main_menu"), "repairs", MATCHER).key == "2"  # plain endings aside


def test_the_choices_a_menu_prompt_names_are_read_with_their_keys() -> None:
    assert named_choices(
        "Tell me what you need, or press 1 for orders, 2 for repairs, 3 for warranty, 4 for other "
        "questions, or 0 for an agent."
    ) == [("0", "agent"), ("1", "orders"), ("2", "repairs"), ("3", "warranty"), ("4", "other questions")]
    assert named_choices("For returns and exchanges, press 1. To go back, press star.") == [
        ("*", "go back"),
        ("1", "returns and exchanges"),
    ]


async def test_the_main_menus_recognition_grammar_holds_the_intents_words() -> None:
    """With local speech, Vosk can only return words its grammar has: 'refund' must be one."""
    engine = FlowEngine(FLOW, PROMPTS, NoRecords())
    session = engine.new_session("CAgrammar", "", "+15550009999")  # no caller ID: the main menu
    steps = await engine.handle(session, Start())
    (gather,) = [step for step in steps if isinstance(step, Gather)]
    grammar = grammar_for(gather, FLOW.agent_words)
    assert {"refund", "when are you open", "customer service", "order status"} <= set(grammar)
