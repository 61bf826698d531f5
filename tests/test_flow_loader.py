"""A broken flow is refused whole, with file, line, state and a plain reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ivr.flow.loader import (
    FlowInvalid,
    Problem,
    ProblemCode,
    Severity,
    check_flow_text,
    load_flow,
    parse_flow,
)
from ivr.flow.schema import ActionState
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
      limit_reached: bye
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


def linked(goto: str, extra: str) -> str:
    """GOOD with a menu option 2 going to `goto`, and `extra` states added at the end (line 35 on)."""
    option = "      - key: 2\n        words: [help]\n        goto: " + goto + "\n"
    return GOOD.replace("        goto: ask\n", "        goto: ask\n" + option) + textwrap.indent(
        textwrap.dedent(extra), "  "
    )


def test_the_shipped_flow_is_valid_and_every_state_is_reachable() -> None:
    flow, warnings = load_flow(ROOT / "flows" / "support.yaml", CATALOGS)
    assert flow.start == "welcome"
    assert warnings == []  # faq_menu has 5 topics and "*" for the main menu, which is not a choice


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
        "the service's actions are: book_repair_slot_1, book_repair_slot_2, cancel_repair_booking, "
        "check_postal_code, check_repair, check_return, choose_repair_dropoff, choose_repair_item, "
        "choose_repair_pickup, choose_repair_visit, choose_return_item, find_caller, find_guide, "
        "find_order, find_repair, find_repair_booking, find_return, find_warranty, guide_back, "
        "guide_no, guide_skip, guide_yes, move_repair_slot_1, move_repair_slot_2, offer_guide_text, "
        "offer_repair_slots, offer_return_label, offer_tracking_text, opt_out, record_score, "
        "request_callback, send_review_text, start_return_damaged, start_return_not_needed, "
        "start_return_not_working, start_return_wrong_item, text_guide_link, text_return_label, "
        "text_tracking_link"
    ]


def test_every_outcome_of_an_action_must_be_routed() -> None:
    lines = problems(GOOD.replace("      needs_verification: bye\n", ""))
    assert lines == [
        "flow.yaml line 20, state 'lookup': outcomes of 'find_order' not routed: needs_verification"
    ]


def test_an_unrouted_lookup_limit_is_a_warning_and_goes_to_the_agent() -> None:
    """Flows written before the lookup limit existed still load (see test_flow_upgrade)."""
    text = GOOD.replace("      limit_reached: bye\n", "")
    flow, warnings = parse_flow(load_text(text, "flow.yaml"), CATALOGS)
    assert warnings == [
        "flow.yaml line 17, state 'lookup': 'limit_reached' is not routed: a caller over the lookup "
        "limit goes straight to an agent; route it to tell them why first"
    ]
    lookup = flow.states["lookup"]
    assert isinstance(lookup, ActionState) and "limit_reached" not in lookup.outcomes


def test_missing_prompt_is_reported_per_language() -> None:
    assert problems(GOOD.replace("prompt: goodbye", "prompt: farewell")) == [
        f"flow.yaml line 31, state 'bye': prompt 'farewell' is missing in language '{code}'"
        for code in ("de", "en", "sv")  # every language the shipped prompts/ has
    ]


def test_same_key_twice_in_one_menu() -> None:
    text = GOOD.replace(
        "        goto: ask\n",
        "        goto: ask\n      - key: 1\n        words: [repair]\n        goto: bye\n",
    )
    assert problems(text) == [
        "flow.yaml line 12, state 'menu': key 1 is used twice in this menu (also on line 9); "
        "give each option its own key"
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
        "allowed: fallback, group, prompt, reason, type",
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


def test_unreachable_states_block_publishing() -> None:
    text = GOOD + "  orphan:\n    type: hangup\n    prompt: goodbye\n"
    assert problems(text) == [
        "flow.yaml line 32, state 'orphan': no path from the start ('menu') reaches this state; "
        "send a menu option or another state here, or delete it"
    ]


def test_a_state_that_only_leads_back_to_itself_is_a_dead_end() -> None:
    text = linked(
        "stuck",
        """\
          stuck:
            type: gather
            prompt: ask_order_number
            save_as: order_number
            agent: false
            next: stuck
            on_failure: stuck
        """,
    )
    assert problems(text) == [
        "flow.yaml line 35, state 'stuck': no way to end the call from here: every path stays in this "
        "state and never reaches a hangup or transfer; give it a way out (a menu option or next to a "
        "goodbye, or agent: true on a menu or gather)"
    ]


def test_a_loop_of_menus_with_no_exit_is_one_message_per_trapped_state() -> None:
    text = linked(
        "ping",
        """\
          ping:
            type: menu
            prompt: main_menu
            agent: false
            options:
              - {key: 1, words: [pong], goto: pong}
            on_failure: pong
          pong:
            type: menu
            prompt: anything_else
            agent: false
            options:
              - {key: 1, words: [ping], goto: ping}
            on_failure: ping
        """,
    )
    trapped = (
        "no way to end the call from here: every path stays among ping, pong and never reaches a hangup "
        "or transfer; give it a way out (a menu option or next to a goodbye, "
        "or agent: true on a menu or gather)"
    )
    assert problems(text) == [
        f"flow.yaml line 35, state 'ping': {trapped}",
        f"flow.yaml line 42, state 'pong': {trapped}",
    ]


def test_a_silent_caller_must_be_let_go_in_the_end() -> None:
    text = linked(
        "confirm",
        """\
          confirm:
            type: menu
            prompt: anything_else
            options:
              - {key: 1, words: [done], goto: bye}
            on_no_input: confirm
        """,
    )
    assert problems(text) == [
        "flow.yaml line 40, state 'confirm': a caller who stays silent is asked again forever: on_no_input "
        "goes back to this same state, and from there never reaches a hangup or transfer; send it to a "
        "goodbye or an agent (left out, it goes to the flow's agent)"
    ]


def test_retries_that_hand_the_caller_between_two_questions_forever() -> None:
    text = linked(
        "first",
        """\
          first:
            type: menu
            prompt: anything_else
            options:
              - {key: 1, words: [done], goto: bye}
            on_failure: second
          second:
            type: gather
            prompt: ask_order_number
            save_as: order_number
            next: lookup
            on_failure: first
        """,
    )
    lines = problems(text)
    assert lines[0] == (
        "flow.yaml line 40, state 'first': a caller who stays silent or is not understood is asked again "
        "forever: on_failure goes to 'second', and from there never reaches a hangup or transfer; send "
        "on_failure and on_no_input to a goodbye or an agent (left out, they go to the agent)"
    )
    assert lines[1].startswith(
        "flow.yaml line 46, state 'second': a caller who stays silent or is not understood"
    )


def test_a_hand_off_needs_a_fallback_for_when_nobody_answers() -> None:
    assert problems(GOOD.replace("    fallback: bye\n", "")) == [
        "flow.yaml line 24, state 'agent': 'fallback' is required: name the state a caller goes to when "
        "nobody answers (a hangup that apologises, or a menu)"
    ]


def test_a_fallback_that_hands_off_again_forever() -> None:
    text = GOOD.replace("fallback: bye", "fallback: retry_agent") + (
        "  retry_agent:\n    type: say\n    prompt: agents_unavailable\n    next: agent\n"
    )
    assert problems(text) == [
        "flow.yaml line 28, state 'agent': when nobody answers, fallback leads back to this hand-off "
        "(agent -> retry_agent -> agent), so the caller waits forever; send fallback to a hangup that "
        "apologises, or a menu"
    ]


_MORE_OPTIONS = ((2, "repairs"), (3, "warranty"), (4, "questions"), (5, "w5"), (6, "w6"), ("'*'", "w7"))
"""Options for the main menu prompt's keys, with the words it names for them."""


def test_a_menu_with_more_than_five_options_is_a_warning_only() -> None:
    options = "".join(f"      - {{key: {k}, words: [{w}], goto: bye}}\n" for k, w in _MORE_OPTIONS)
    flow, warnings = parse_flow(
        load_text(GOOD.replace("        goto: ask\n", "        goto: ask\n" + options), "f.yaml"), CATALOGS
    )
    assert len(flow.states["menu"].options) == 7  # type: ignore[union-attr]
    assert warnings == [
        "f.yaml line 5, state 'menu': this menu offers 6 choices; callers keep about 5 in mind, "
        "so consider moving some into a second menu"
    ]


def test_check_flow_text_gives_errors_and_warnings_as_data() -> None:
    options = "".join(f"      - {{key: {k}, words: [{w}], goto: bye}}\n" for k, w in _MORE_OPTIONS)
    text = GOOD.replace("        goto: ask\n", "        goto: ask\n" + options).replace(
        "next: lookup", "next: lookpu"
    )
    errors, warnings = check_flow_text(text, "draft", CATALOGS)
    assert errors == [
        Problem(
            22,
            "ask",
            "next goes to 'lookpu', which is not a state",
            ProblemCode.UNKNOWN_STATE,
            Severity.ERROR,
        )
    ]
    assert [(w.line, w.state, w.code, w.severity) for w in warnings] == [
        (5, "menu", ProblemCode.MENU_TOO_LONG, Severity.WARNING)
    ]
    assert check_flow_text(GOOD, "draft", CATALOGS) == ([], [])


def test_check_flow_text_answers_bad_yaml_with_its_line_instead_of_raising() -> None:
    errors, warnings = check_flow_text(GOOD.replace("words: [order]", "words: [order"), "draft", CATALOGS)
    assert [(e.line, e.state, e.code) for e in errors] == [(11, None, ProblemCode.YAML)]
    assert errors[0].message.startswith("not valid YAML")
    assert warnings == []
    errors, _ = check_flow_text(
        GOOD.replace("prompt: goodbye", "prompt: !!python/name:os.system x"), "d", CATALOGS
    )
    assert [(e.line, e.code) for e in errors] == [(31, ProblemCode.YAML)]
    assert "cannot read this value" in errors[0].message
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    assert check_flow_text(bomb, "d", CATALOGS)[0] == [
        Problem(
            2,
            None,
            "repeating a list or mapping with an alias (*name) is not supported; write it out",
            ProblemCode.YAML,
        )
    ]
    assert check_flow_text("", "d", CATALOGS)[0] == [
        Problem(None, None, "the file is empty", ProblemCode.YAML)
    ]


def test_a_menu_that_names_a_choice_its_words_do_not_understand_is_warned_about() -> None:
    """The main menu prompt says '2 for repairs': a caller saying 'repairs' must get there."""
    repairs = "      - {key: 2, words: [fix], goto: bye}\n"
    text = GOOD.replace("        goto: ask\n", "        goto: ask\n" + repairs)
    errors, warnings = check_flow_text(text, "draft", CATALOGS)
    assert errors == []
    assert [(w.line, w.state, w.code, w.message) for w in warnings] == [
        (
            12,
            "menu",
            ProblemCode.CHOICE_NOT_UNDERSTOOD,
            "prompt 'main_menu' (en) offers 'repairs' for key 2, but saying 'repairs' matches none of "
            "this menu's words; add it to the option's words",
        )
    ]
    fixed = text.replace("words: [fix]", "words: [fix, repair]")
    assert check_flow_text(fixed, "draft", CATALOGS) == ([], [])
