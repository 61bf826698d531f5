"""Troubleshooting guides: the files (validated whole, with file and line), the error codes and
words that find a guide, the walk through its steps, and whole calls over signed webhooks: the
text offered for a long guide, the survey after a solved one, what an agent gets after an
unsolved one, and `ivr stats` counting both. The golden calls (tests/golden/*guide*) hold what
callers hear in each language."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.whisper import summary, words_for
from ivr.cli import main
from ivr.console.screen_pop import screen_pop
from ivr.flow import guide_walk
from ivr.flow.guides import MAX_STEPS, GuideBook, GuidesInvalid, check_guide_text, error_code, load_guides
from ivr.flow.loader import FlowInvalid
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, make_settings
from ivr.web.app import create_app
from ivr.web.keys import LINE
from tests.insight_calls import stats

LANGUAGES = ("en", "de", "sv")
SHIPPED = load_guides(ROOT / "guides", LANGUAGES)
STRANGER = "+15550199999"
GOOD = """\
guide: kettle-e2
error_codes: [E2]
en:
  title: error E2 on your kettle
  product: [kettle]
  symptom: [won't boil]
  steps:
    - Unplug the kettle for one minute.
    - Descale it.
"""


@pytest.mark.parametrize(
    ("language", "said", "code"),
    [
        ("en", "E15", "E15"),
        ("en", "my dishwasher is showing E 1 5", "E15"),
        ("en", "it says error fifteen", "15"),
        ("en", "the display says e fifteen", "E15"),
        ("en", "error one five on my dishwasher", "15"),
        ("de", "Fehler E15", "E15"),
        ("de", "Fehlercode fünfzehn", "15"),
        ("sv", "felkod E15", "E15"),
        ("sv", "felkod e femton", "E15"),
        ("sv", "det är fel på diskmaskinen", ""),  # "fel" without a number is no code
        ("en", "I have a problem", ""),
    ],
)
def test_error_codes_are_understood_as_callers_say_them(language: str, said: str, code: str) -> None:
    assert error_code(said, language) == code


@pytest.mark.parametrize(
    ("language", "said", "guide"),
    [
        ("en", "my dishwasher is showing error E 1 5", "dishwasher-e15"),
        ("en", "error fifteen", "dishwasher-e15"),
        ("de", "meine Spülmaschine zeigt Fehler E15", "dishwasher-e15"),
        ("sv", "diskmaskinen visar felkod E15", "dishwasher-e15"),
        ("en", "my washing machine won't drain", "washing-machine-drain"),
        ("de", "die Waschmaschine pumpt nicht ab", "washing-machine-drain"),
        ("sv", "tvättmaskinen tömmer inte", "washing-machine-drain"),
        ("en", "how do I descale my coffee machine", "coffee-machine-descaling"),
        ("de", "Kaffeevollautomat entkalken", "coffee-machine-descaling"),
        ("sv", "avkalkningslampan lyser", "coffee-machine-descaling"),
        ("en", "dishwasher", "dishwasher-e15"),  # a product alone: its first guide
        ("en", "coffee machine error E15", None),  # a code the named product does not show
        ("en", "error 99 on my coffee machine", "coffee-machine-descaling"),  # a code no guide knows
        ("en", "my fridge is humming", None),
    ],
)
def test_the_callers_words_find_the_guide(language: str, said: str, guide: str | None) -> None:
    found = SHIPPED.find(said, language)
    assert (found.name if found else None) == guide


def test_three_guides_ship_in_every_language_with_short_steps() -> None:
    assert [g.name for g in SHIPPED.guides] == [
        "coffee-machine-descaling",
        "dishwasher-e15",
        "washing-machine-drain",
    ]
    for guide in SHIPPED.guides:
        assert set(guide.texts) == set(LANGUAGES)
        counts = {len(text.steps) for text in guide.texts.values()}
        assert len(counts) == 1, f"{guide.name}: every language has the same steps"


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (lambda t: t.replace("guide: kettle-e2", "guide: Kettle E2!"), 1, "'guide' is the guide's id"),
        (lambda t: t.replace("error_codes: [E2]", "error_codes: [boil]"), 2, "codes such as E15"),
        (lambda t: t.replace("  title: error E2 on your kettle\n", ""), 3, "'title' says what"),
        (lambda t: t.replace("    - Descale it.", "    - ''"), 9, "a step is a sentence"),
        (lambda t: t.replace("    - Descale it.", "    - Descale {it}."), 9, "no { or }"),
        (lambda t: t.replace("  product: [kettle]", "  product: kettle"), 5, "'product' is a list"),
        (lambda t: t + "notes: hi\n", 10, "'notes' is not a setting of a guide"),
        (lambda t: t + "de: {title: x}\n", 10, "'product' is a list"),  # a language not served, checked
        (lambda t: t.replace("steps:\n", "steps:\n" + "    - Wait.\n" * MAX_STEPS), 7, "at most 12"),
        (lambda t: t.replace("en:", "en: [", 1), 5, "not valid YAML"),
    ],
)
def test_a_broken_guide_is_refused_with_its_line_and_reason(
    change: Callable[[str], str], line: int, reason: str
) -> None:
    with pytest.raises(GuidesInvalid) as caught:
        check_guide_text(change(GOOD), "guides/kettle.yaml", ("en",))
    (problem, *_) = caught.value.problems
    assert (problem.source, problem.line) == ("guides/kettle.yaml", line)
    assert reason in problem.message


def test_a_guide_missing_a_language_the_line_speaks_is_refused() -> None:
    with pytest.raises(GuidesInvalid, match="no text in language 'de'"):
        check_guide_text(GOOD, "guides/kettle.yaml", ("en", "de"))


def test_one_broken_file_refuses_the_whole_folder_and_start_up(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("  steps:\n", "  stepz:\n"))
    (tmp_path / "c.yaml").write_text(GOOD)  # the same id again
    with pytest.raises(GuidesInvalid) as caught:
        load_guides(tmp_path, ("en",))
    said = str(caught.value)
    assert f"{tmp_path / 'b.yaml'} line 7: 'stepz' is not part of a guide's text" in said
    assert f"{tmp_path / 'c.yaml'} line 1: guide 'kettle-e2' is also in {tmp_path / 'a.yaml'}" in said
    every = (
        GOOD
        + GOOD[GOOD.index("en:") :].replace("en:", "de:", 1)
        + GOOD[GOOD.index("en:") :].replace("en:", "sv:", 1)
    )
    (tmp_path / "a.yaml").write_text(every)
    (tmp_path / "b.yaml").write_text(every.replace("  steps:\n", "  stepz:\n", 1))
    (tmp_path / "c.yaml").unlink()
    settings = make_settings(tmp_path, IVR_GUIDES=str(tmp_path))  # the line's three languages
    with pytest.raises(FlowInvalid) as refused:
        create_app(settings)
    assert f"{tmp_path / 'b.yaml'} line 7: 'stepz' is not part of a guide's text" in str(refused.value)


def test_ivr_guides_validate_names_every_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guides", "validate", str(ROOT / "guides")]) == 0
    assert "guide 'dishwasher-e15' is valid (4 steps; in de, en, sv)" in capsys.readouterr().out
    (tmp_path / "kettle.yaml").write_text(GOOD)
    assert main(["guides", "validate", str(tmp_path), "--languages", "en,sv"]) == 1
    assert (
        f"{tmp_path / 'kettle.yaml'} line 1: the guide has no text in language 'sv'"
        in capsys.readouterr().err
    )


def test_a_walk_notes_each_answer_and_what_was_tried_when_nothing_helped() -> None:
    guide = check_guide_text(GOOD, "g.yaml", ("en",))
    values: dict[str, str] = {}
    guide_walk.start(values, guide, "en")
    assert (values["guide_step_number"], values["guide_step_text"]) == (
        "1",
        "Unplug the kettle for one minute.",
    )
    assert guide_walk.back(values, guide, "en") is guide_walk.Moved.FIRST
    assert guide_walk.answer(values, guide, "en", guide_walk.Answer.SKIPPED) is guide_walk.Moved.STEP
    assert guide_walk.back(values, guide, "en") is guide_walk.Moved.STEP
    assert guide_walk.answer(values, guide, "en", guide_walk.Answer.NO) is guide_walk.Moved.STEP
    assert guide_walk.answer(values, guide, "en", guide_walk.Answer.NO) is guide_walk.Moved.DONE
    assert values["guide_outcome"] == "kettle-e2: 1 no, 2 no"
    assert "guide_step_text" not in values, "the working values go once the walk ends"


def test_a_solved_walk_leaves_no_outcome_for_the_repair_booking() -> None:
    guide = check_guide_text(GOOD, "g.yaml", ("en",))
    values: dict[str, str] = {}
    guide_walk.start(values, guide, "en")
    assert guide_walk.answer(values, guide, "en", guide_walk.Answer.YES) is guide_walk.Moved.SOLVED
    assert "guide_outcome" not in values


def test_the_screen_pop_shows_what_the_caller_tried() -> None:
    pop = screen_pop({"guide_outcome": "dishwasher-e15: 1 no, 2 skipped"}, "guide_not_solved", [], TODAY)
    assert pop.wants == "A troubleshooting guide did not fix it"
    assert ("Guide tried (step and answer)", "dishwasher-e15: 1 no, 2 skipped") in pop.details


async def line(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount | None = None, **env: str
) -> TestClient:
    texting = (
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_PHONE_NUMBER": LINE_NUMBER,
            "TWILIO_API_BASE": twilio.api_base,
        }
        if twilio is not None
        else {}
    )
    settings = make_settings(tmp_path, IVR_AGENT_NUMBER="+15550123456", **texting, **env)
    return await aiohttp_client(create_app(settings, today=lambda: TODAY))


async def test_a_long_guide_is_offered_by_text_and_the_steps_follow(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await line(aiohttp_client, tmp_path, twilio)
    caller = Caller(client, phone=STRANGER)
    await caller.dial_to_menu()
    offered = await caller.say("my washing machine won't drain")
    assert offered.heard[-1] == (
        "To get the steps by text and follow them at the machine, press 1. To go through them now, press 2."
    )
    sent = await caller.press("1")
    assert sent.heard[:2] == [
        "Done. I've sent it by text to the number you're calling from.",
        "Let's go through them together now as well.",
    ]
    assert sent.heard[-1].startswith("Step 1. Switch the washing machine off")
    (message,) = twilio.messages
    assert message.to == STRANGER
    assert message.body == (
        "Acme: the steps for a washing machine that won't drain, to follow at your own pace: "
        "https://www.acme.example/help/washing-machine-drain"
    )
    # A short guide is not offered: it starts at once.
    short = Caller(client, phone=STRANGER)
    await short.dial_to_menu()
    assert (await short.say("error fifteen on my dishwasher")).heard[-1].startswith("Step 1.")


async def test_a_solved_guide_ends_with_the_survey_question(aiohttp_client: Callable, tmp_path: Path) -> None:
    client = await line(aiohttp_client, tmp_path, IVR_INBOUND_SURVEY="on")
    caller = Caller(client, phone=STRANGER)
    await caller.dial_to_menu()
    await caller.say("my dishwasher shows E15")
    solved = await caller.say("yes")
    assert solved.heard[0] == "Great, I'm glad that fixed it."
    assert "one question" in solved.text and not solved.hung_up


async def test_an_unsolved_guide_hands_over_with_what_was_tried(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller = Caller(client, phone=STRANGER)
    await caller.dial_to_menu()
    await caller.say("my dishwasher shows E15")
    await caller.press("2")
    await caller.say("next")
    await caller.press("2")
    booking = await caller.say("no, that didn't help")
    # on to booking a repair: a stranger has no product on file, so a person is offered
    assert "To book a repair I need to find your product" in booking.text, booking.text
    handed = await caller.press("1")
    assert handed.handoff is not None
    session = await client.app[LINE].sessions.load(caller.call_sid)
    assert session is not None
    assert "guide_not_solved" in session.path and "book_repair" in session.path
    assert session.vars["guide_outcome"] == "dishwasher-e15: 1 no, 2 skipped, 3 no, 4 no"


async def test_ivr_stats_counts_guides_solved_and_not_and_the_calls_they_kept_from_a_person(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    solved = Caller(client, phone=STRANGER)
    await solved.dial_to_menu()
    await solved.say("error fifteen")
    assert (await solved.press("1")).hung_up
    await solved.hang_up()
    unsolved = Caller(client, phone=STRANGER)
    await unsolved.dial_to_menu()
    await unsolved.say("error fifteen")
    for _ in range(4):
        turn = await unsolved.press("2")
    assert "To book a repair" in turn.text, turn.text  # a stranger: no product on file
    turn = await unsolved.press("1")
    assert turn.handoff is not None
    await unsolved.transfer_ends("completed")
    await unsolved.hang_up()
    figures = await asyncio.to_thread(stats, tmp_path)
    assert figures["self_service"] == {
        "guides_not_solved": {"calls": 1, "contained": 0},
        "guides_solved": {"calls": 1, "contained": 1},
    }


def test_an_empty_book_finds_nothing() -> None:
    assert GuideBook().find("error E15", "en") is None


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "Guide for error E15 on your dishwasher: 3 steps tried without success, 1 skipped."),
        (
            "de",
            "Anleitung für den Fehler E15 an Ihrem Geschirrspüler: 3 Schritte ohne Erfolg ausprobiert,"
            " 1 übersprungen.",
        ),
        ("sv", "Guiden för felkod E15 på din diskmaskin: 3 steg provade utan resultat, 1 överhoppade."),
    ],
)
def test_the_whisper_tells_the_agent_what_the_caller_tried(language: str, said: str) -> None:
    title = SHIPPED.guides[1].text(language).title
    context = {"guide_outcome": "dishwasher-e15: 1 no, 2 skipped, 3 no, 4 no", "guide_title": title}
    assert summary("guide_not_solved", context, words=words_for(language)).endswith(said)
