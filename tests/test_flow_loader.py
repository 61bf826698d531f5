"""A broken flow is refused whole, with file, line, state and a plain reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ivr.flow.loader import FlowInvalid, load_flow, parse_flow
from ivr.prompts import load_catalogs
from ivr.yamlsource import SourceError, load_text

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = load_catalogs(ROOT / "prompts")

GOOD = """\
flow: tiny
start: menu
agent: agent
states:
  menu:
    type: menu
    prompt: main_menu
    options:
      - key: 1
        words: [order]
        goto: ask
  ask:
    type: gather
    prompt: ask_order_number
    save_as: order_number
    next: lookup
  lookup:
    type: action
    action: find_order
    outcomes:
      verified: bye
      needs_verification: bye
      not_found: bye
  agent:
    type: transfer
    prompt: transfer
    reason: caller_asked
    fallback: bye
  bye:
    type: hangup
    prompt: goodbye
"""


def problems(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(load_text(textwrap.dedent(text), "flow.yaml"), CATALOGS)
    return caught.value.lines()


def test_the_shipped_flow_is_valid_and_every_state_is_reachable() -> None:
    flow, warnings = load_flow(ROOT / "flows" / "support.yaml", CATALOGS)
    assert flow.start == "welcome"
    assert warnings == []


def test_a_small_valid_flow_loads() -> None:
    flow, warnings = parse_flow(load_text(GOOD, "flow.yaml"), CATALOGS)
    assert list(flow.states) == ["menu", "ask", "lookup", "agent", "bye"]
    assert warnings == []


def test_unknown_target_state_names_the_line_and_state() -> None:
    assert problems(GOOD.replace("next: lookup", "next: lookpu")) == [
        "flow.yaml line 16, state 'ask': next goes to 'lookpu', which is not a state"
    ]


def test_unknown_action_is_refused_and_no_import_path_is_followed() -> None:
    lines = problems(GOOD.replace("action: find_order", "action: os.system"))
    assert lines == [
        "flow.yaml line 19, state 'lookup': unknown action 'os.system'; "
        "the service's actions are: check_postal_code, find_order, find_repair, find_warranty"
    ]


def test_every_outcome_of_an_action_must_be_routed() -> None:
    lines = problems(GOOD.replace("      not_found: bye\n", ""))
    assert lines == ["flow.yaml line 20, state 'lookup': outcomes of 'find_order' not routed: not_found"]


def test_missing_prompt_is_reported_per_language() -> None:
    assert problems(GOOD.replace("prompt: goodbye", "prompt: farewell")) == [
        "flow.yaml line 31, state 'bye': prompt 'farewell' is missing in language 'en'"
    ]


def test_same_key_twice_in_one_menu() -> None:
    text = GOOD.replace(
        "        goto: ask\n",
        "        goto: ask\n      - key: 1\n        words: [repair]\n        goto: bye\n",
    )
    assert problems(text) == [
        "flow.yaml line 12, state 'menu': key 1 is used twice in this menu (also on line 9)"
    ]


def test_key_zero_is_kept_for_the_agent() -> None:
    assert problems(GOOD.replace("key: 1", "key: 0")) == [
        "flow.yaml line 9, state 'menu': key 0 is kept for 'agent' in every menu"
    ]


def test_schema_errors_are_all_reported_at_once() -> None:
    text = GOOD.replace("type: gather", "type: gathr").replace(
        "fallback: bye", "fallback: bye\n    colour: red"
    )
    assert problems(text) == [
        "flow.yaml line 13, state 'ask': 'type' must be one of say, menu, gather, action, transfer, hangup",
        "flow.yaml line 29, state 'agent': 'colour' is not a setting of a transfer state; "
        "allowed: fallback, prompt, reason, type",
    ]


def test_an_action_needs_its_number_collected_first() -> None:
    assert problems(GOOD.replace("save_as: order_number", "save_as: order_no")) == [
        "flow.yaml line 19, state 'lookup': 'find_order' needs 'order_number', "
        "but no gather saves it (save_as: order_number)"
    ]


def test_a_loop_that_never_waits_is_refused() -> None:
    text = GOOD.replace(
        "  bye:\n",
        "  a:\n    type: say\n    prompt: welcome\n    next: b\n"
        "  b:\n    type: say\n    prompt: welcome\n    next: a\n  bye:\n",
    )
    lines = problems(text.replace("fallback: bye", "fallback: a"))
    assert lines == [
        "flow.yaml line 29, state 'a': loop with no exit: a -> b -> a never waits for the caller"
    ]


def test_yes_and_no_as_bare_words_get_a_hint() -> None:
    lines = problems(GOOD.replace("words: [order]", "words: [order, yes]"))
    assert "put them in quotes" in lines[0]


def test_duplicate_state_names_are_caught_not_merged() -> None:
    with pytest.raises(SourceError) as caught:
        load_text(GOOD + "  bye:\n    type: hangup\n", "flow.yaml")
    assert str(caught.value) == "flow.yaml line 32: 'bye' appears twice (first on line 29)"


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("words: [order]", "words: [order"))
    with pytest.raises(FlowInvalid) as caught:
        load_flow(path, CATALOGS)
    assert caught.value.lines()[0].startswith(f"{path} line 11: not valid YAML")


def test_unreachable_states_are_warnings() -> None:
    text = GOOD + "  orphan:\n    type: hangup\n    prompt: goodbye\n"
    _, warnings = parse_flow(load_text(text, "flow.yaml"), CATALOGS)
    assert warnings == ["flow.yaml line 32, state 'orphan': no path reaches this state"]
