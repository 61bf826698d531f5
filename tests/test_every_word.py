"""Every word a German or Swedish caller can hear is German or Swedish, and complete.

The validator checks that each language has each prompt with the same placeholders; it
cannot tell a prompt copied from English, a sentence left half English, or a placeholder
nothing fills. These tests walk every prompt id of every shipped language, rendered with
the values a call of that language holds (the demo's German and Swedish records), and the
desk's, the survey's and the fault path's own words: each must differ from the English,
hold no English word a caller would notice, and leave no `{name}` or `[part]` behind.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest

from ivr.agents.caller_words import ENGLISH as ENGLISH_DESK
from ivr.agents.caller_words import words_for
from ivr.flow.guides import load_guides
from ivr.flow.survey import TEXTS as SURVEY_TEXTS
from ivr.languages import FAULT_WORDS
from ivr.markets import load_markets
from ivr.prompts import PromptCatalog, load_catalog

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
MARKETS = load_markets(ROOT / "markets", ("en", "de", "sv"))
"""The shipped markets: a call to the German number hears Germany's places, prices and rights."""
TODAY = date(2026, 11, 23)
LANGUAGES = ("de", "sv")

ENGLISH_WORDS = frozenset(
    [
        "the",
        "your",
        "you",
        "please",
        "press",
        "thank",
        "thanks",
        "goodbye",
        "order",
        "repair",
        "warranty",
        "agent",
        "call",
        "calling",
        "and",
        "with",
        "is",
        "are",
        "for",
        "of",
        "to",
        "our",
        "we",
        "this",
        "that",
        "pound",
        "star",
        "hello",
        "hi",
        "sorry",
    ]
)
"""Words a German or Swedish caller would hear as English. None is also a German or Swedish
word a prompt would use (German "was" and "die", Swedish "hej" and "till" are not in it)."""

GUIDES = load_guides(ROOT / "guides", ("en", "de", "sv"))
"""The shipped troubleshooting guides: their words are said in the caller's language too."""


def guide_values(language: str) -> dict[str, str]:
    """What a call in a guide holds: the first shipped guide at its first step."""
    guide = GUIDES.guides[0]
    text = guide.text(language)
    return {
        "guide": guide.name,
        "guide_title": text.title,
        "guide_steps": str(len(text.steps)),
        "guide_step_number": "1",
        "guide_step_text": text.steps[0],
    }


_SAMPLES_COMMON = {
    "order_number": "4620",
    "ticket_number": "3150",
    "serial_number": "200300400",
    "tracking_number": "00340434161234567890",
    "tracking_url": "https://www.acme.example/track/4620",
    "review_url": "https://reviews.example.com/acme",
    "line_number": "+4930555010",
    "key": "7",
    "min_digits": "3",
    "max_digits": "12",
    "late": "yes",
    "return_order": "4621",
    "return_days": "30",
    "rma": "7001",
    "booking_number": "8001",
    "repair_postal_code": "10115",
    **{f"offers_{option}": "1" for option in ("pickup", "dropoff", "visit")},
    **{
        name: "2026-11-27"
        for name in (
            "eta",
            "eta_due",
            "eta_late",
            "ship_due",
            "ship_late",
            "placed_on",
            "repair_due",
            "repair_late",
            "pickup_until",
            "warranty_expires_on",
            "event_date",
            "return_delivered_on",
            "return_last_day",
            "return_started_on",
            "repair_warranty_until",
            "slot_day",
        )
    },
}
SAMPLES: Mapping[str, Mapping[str, str]] = {
    "de": {
        **_SAMPLES_COMMON,
        "first_name": "Anna",
        "customer_name": "Anna Schmidt",
        "carrier": "DHL",
        "product": "Kaffeevollautomat",
        "repair_product": "Kaffeevollautomat",
        "warranty_product": "Kaffeevollautomat",
        **{name: "Wasserkocher" for name in ("return_product", *(f"return_item_{n}" for n in range(1, 6)))},
        **{f"repair_item_{n}": "Küchenmaschine" for n in range(1, 6)},
        **{name: "am Dienstagvormittag" for name in ("slot_1", "slot_2", "booking_slot")},
        "booking_date": "am Dienstag, dem 24. November, vormittags",
        "opening_hours": "Montag bis Freitag von 8 bis 18 Uhr",
        "next_opening": "Wir sind morgen um 8 Uhr wieder für Sie da.",
        **MARKETS.by_code["de"].values("de-DE"),
        **guide_values("de"),
    },
    "sv": {
        **_SAMPLES_COMMON,
        "first_name": "Erik",
        "customer_name": "Erik Lindqvist",
        "carrier": "PostNord",
        "product": "robotdammsugare",
        "repair_product": "robotdammsugare",
        "warranty_product": "robotdammsugare",
        **{name: "vattenkokare" for name in ("return_product", *(f"return_item_{n}" for n in range(1, 6)))},
        **{f"repair_item_{n}": "köksmaskin" for n in range(1, 6)},
        **{name: "på tisdag förmiddag" for name in ("slot_1", "slot_2", "booking_slot")},
        "booking_date": "på förmiddagen tisdag den 24 november",
        "opening_hours": "måndag till fredag mellan 8 och 18",
        "next_opening": "Vi öppnar igen i morgon klockan 8.",
        **MARKETS.by_code["se"].values("sv-SE"),
        **guide_values("sv"),
    },
}
"""What a call of each language holds when a prompt is said: every variable the line fills."""


def catalog(code: str) -> PromptCatalog:
    return load_catalog(PROMPTS / f"{code}.yaml")


def english_words(text: str) -> set[str]:
    """The words of `text` (links and the sample values left out) that are English."""
    without_links = re.sub(r"https?://\S+", "", text)
    return {word for word in re.findall(r"[^\W\d_]+", without_links.lower()) if word in ENGLISH_WORDS}


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_prompt_is_said_in_the_callers_language_and_complete(code: str) -> None:
    ours, english = catalog(code), catalog("en")
    values = SAMPLES[code]
    problems = []
    for prompt_id, template in sorted(ours.templates.items()):
        unfilled = template.variables - set(values)
        if unfilled:
            problems.append(f"{prompt_id}: nothing fills {sorted(unfilled)}")
            continue
        said = ours.render(prompt_id, values, TODAY)
        if english.has(prompt_id) and said == english.render(prompt_id, values, TODAY):
            problems.append(f"{prompt_id}: the same as in English: {said!r}")
        if re.search(r"[{}\[\]]", said):
            problems.append(f"{prompt_id}: a placeholder or optional part is left: {said!r}")
        if found := english_words(said):
            problems.append(f"{prompt_id}: English words {sorted(found)} in {said!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_guide_step_is_said_in_the_callers_language(code: str) -> None:
    """The shipped guides' titles and steps, each as a caller of that language hears it."""
    problems = []
    for guide in GUIDES.guides:
        text, english = guide.text(code), guide.text("en")
        for said, theirs in zip((text.title, *text.steps), (english.title, *english.steps), strict=True):
            if said == theirs:
                problems.append(f"{guide.name}: the same as in English: {said!r}")
            if found := english_words(said):
                problems.append(f"{guide.name}: English words {sorted(found)} in {said!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_prompt_without_the_optional_values_still_reads_as_a_sentence(code: str) -> None:
    """A caller whose record has no date, product or carrier hears the rest: no '..', no ' ,'."""
    ours = catalog(code)
    required = {"order_number", "ticket_number", "serial_number", "key", "min_digits", "max_digits"}
    values = {k: v for k, v in SAMPLES[code].items() if k in required}
    for prompt_id in ours.templates:
        said = ours.render(prompt_id, values, TODAY)
        assert ".." not in said and " ." not in said and " ," not in said and ",." not in said, (
            f"{prompt_id}: {said!r}"
        )


def test_a_packed_order_without_a_ship_date_is_one_sentence_each_in_swedish() -> None:
    """The issue's example: no ship date, an arrival date, said as two whole sentences."""
    said = catalog("sv").render(
        "order_status.processing", {"order_number": "8003", "eta_due": "2026-11-27"}, TODAY
    )
    assert said == "Vi håller på att packa din beställning 8 0 0 3. Den beräknas komma fram på fredag."


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_desk_the_survey_and_the_fault_path_speak_the_callers_language(code: str) -> None:
    """The words that are code, not prompts: each one differs from English and holds none."""
    ours = words_for(code)
    for field in dataclasses.fields(ours):
        mine, theirs = getattr(ours, field.name), getattr(ENGLISH_DESK, field.name)
        for said, english in zip(
            mine if isinstance(mine, tuple) else (mine,),
            theirs if isinstance(theirs, tuple) else (theirs,),
            strict=True,
        ):
            assert said != english, f"desk words '{field.name}' are English in {code}"
            assert not english_words(said), f"desk words '{field.name}' in {code}: {said!r}"
    for texts in SURVEY_TEXTS.values():
        assert not english_words(texts[code]), texts[code]
    for field in dataclasses.fields(FAULT_WORDS[code]):
        said = getattr(FAULT_WORDS[code], field.name)
        assert said != getattr(FAULT_WORDS["en"], field.name) and not english_words(said), said


def test_a_voicemail_left_empty_is_answered_in_the_callers_language() -> None:
    assert words_for("de").no_message == "Ich habe leider keine Nachricht gehört. Auf Wiederhören."
    assert words_for("sv").no_message == "Jag hörde inget meddelande. Hej då."
