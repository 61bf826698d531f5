"""The shipped German and Swedish line: its prompts, the values said inside them, its voices.

Date and hours forms below were checked against CLDR (Babel's data, for month, weekday and
relative-day names) and the house rules people follow when they read them out: Duden's
rules for dates with a weekday ("am Freitag, dem 4. Dezember"; "von 8 bis 18 Uhr") and
Språkrådet's Svenska skrivregler ("fredag den 4 december"; "den 4 december", never "på 4
december"; times on the 24-hour clock without a word for o'clock). Swedish writes opening
hours as "8–18", but espeak-ng reads the dash as nothing ("åtta arton"), so the line says
"mellan 8 och 18", which is how Swedes say it aloud.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ivr.flow.files import FlowFiles, compile_files, read_files
from ivr.flow.loader import FlowInvalid
from ivr.flow.problems import ProblemCode
from ivr.hours import BusinessHours, describe_hours, describe_next_opening, parse_hours
from ivr.prompts import load_catalogs
from ivr.speakable import spoken_date, spoken_when
from ivr.speech import audio
from ivr.speech.cache import PromptAudioCache
from ivr.speech.clips import UlawClips
from ivr.speech.tts import Pyttsx3Synthesizer

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)  # a Monday, the demo's day


@pytest.mark.parametrize(
    ("day", "german", "swedish"),
    [
        (date(2026, 11, 23), "heute", "i dag"),
        (date(2026, 11, 24), "morgen", "i morgon"),
        (date(2026, 11, 22), "gestern", "i går"),
        (date(2026, 11, 25), "am Mittwoch", "på onsdag"),
        (date(2026, 11, 29), "am Sonntag", "på söndag"),  # six days ahead: still this week
        (date(2026, 11, 30), "am 30. November", "den 30 november"),  # a week ahead: the date
        (date(2026, 12, 4), "am 4. Dezember", "den 4 december"),
        (date(2026, 11, 9), "am 9. November", "den 9 november"),  # past weekdays never alone
        (date(2027, 1, 4), "am 4. Januar 2027", "den 4 januari 2027"),
        (date(2025, 5, 10), "am 10. Mai 2025", "den 10 maj 2025"),
    ],
)
def test_a_day_in_a_sentence_is_said_as_germans_and_swedes_say_it(
    day: date, german: str, swedish: str
) -> None:
    assert spoken_when(day, TODAY, "de-DE") == german
    assert spoken_when(day, TODAY, "sv-SE") == swedish


@pytest.mark.parametrize(
    ("day", "german", "swedish"),
    [
        (date(2026, 12, 4), "Freitag, dem 4. Dezember", "fredag den 4 december"),
        (date(2026, 11, 23), "Montag, dem 23. November", "måndag den 23 november"),
        (date(2027, 3, 1), "Montag, dem 1. März 2027", "måndag den 1 mars 2027"),
        (date(2027, 7, 31), "Samstag, dem 31. Juli 2027", "lördag den 31 juli 2027"),
    ],
)
def test_a_full_date_names_its_weekday_as_it_is_spoken(day: date, german: str, swedish: str) -> None:
    assert spoken_date(day, TODAY, "de-DE") == german
    assert spoken_date(day, TODAY, "sv-SE") == swedish


def week(**weekly: str) -> BusinessHours:
    """Hours in Berlin; days not given are closed."""
    days = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "closed") | weekly
    return parse_hours({"timezone": "Europe/Berlin", "weekly": days})


OFFICE = week(
    mon="08:00-18:00",
    tue="08:00-18:00",
    wed="08:00-18:00",
    thu="08:00-18:00",
    fri="08:00-18:00",
    sat="09:00-13:00",
)


@pytest.mark.parametrize(
    ("hours", "german", "swedish"),
    [
        (
            OFFICE,
            "Montag bis Freitag von 8 bis 18 Uhr und Samstag von 9 bis 13 Uhr (Mitteleuropäische Zeit)",
            "måndag till fredag mellan 8 och 18 och lördag mellan 9 och 13 (centraleuropeisk tid)",
        ),
        (
            week(mon="08:30-12:00, 13:00-17:30", tue="08:30-12:00, 13:00-17:30"),
            "Montag und Dienstag von 8 Uhr 30 bis 12 Uhr und von 13 bis 17 Uhr 30 (Mitteleuropäische Zeit)",
            "måndag och tisdag mellan 8:30 och 12 och mellan 13 och 17:30 (centraleuropeisk tid)",
        ),
        (
            week(fri="00:00-24:00", sat="10:00-16:00", sun="10:00-16:00"),
            "Freitag rund um die Uhr und Samstag und Sonntag von 10 bis 16 Uhr (Mitteleuropäische Zeit)",
            "fredag dygnet runt och lördag och söndag mellan 10 och 16 (centraleuropeisk tid)",
        ),
    ],
)
def test_opening_hours_are_said_in_each_language(hours: BusinessHours, german: str, swedish: str) -> None:
    assert describe_hours(hours, "de-DE") == german
    assert describe_hours(hours, "sv-SE") == swedish


@pytest.mark.parametrize(
    ("at", "german", "swedish"),
    [
        (  # Monday evening, Berlin time
            datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
            "Wir sind morgen um 8 Uhr wieder für Sie da.",
            "Vi öppnar igen i morgon klockan 8.",
        ),
        (  # Saturday afternoon: Monday
            datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
            "Wir sind am Montag um 8 Uhr wieder für Sie da.",
            "Vi öppnar igen på måndag klockan 8.",
        ),
        (  # Tuesday early morning
            datetime(2026, 11, 24, 5, 0, tzinfo=UTC),
            "Wir sind heute um 8 Uhr wieder für Sie da.",
            "Vi öppnar igen i dag klockan 8.",
        ),
        (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "Wir sind jetzt für Sie da.", "Vi har öppet nu."),
    ],
)
def test_a_closed_line_says_when_it_opens_again_in_each_language(
    at: datetime, german: str, swedish: str
) -> None:
    assert describe_next_opening(OFFICE, at, "de-DE") == german
    assert describe_next_opening(OFFICE, at, "sv-SE") == swedish


def shipped() -> FlowFiles:
    return read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")


def test_the_shipped_line_speaks_all_three_languages_with_the_same_prompts() -> None:
    compiled = compile_files(shipped(), language="en", languages=("en", "de", "sv"))
    english = compiled.catalogs["en"].templates
    for code, voice, tag in (("de", "Polly.Vicki", "de-DE"), ("sv", "Polly.Astrid", "sv-SE")):
        catalog = compiled.catalogs[code]
        assert (catalog.say_language, catalog.voice) == (tag, voice)
        assert set(catalog.templates) == set(english)
        for prompt_id, template in catalog.templates.items():
            assert template.variables == english[prompt_id].variables, prompt_id


def test_the_shipped_flow_refuses_swedish_prompts_that_miss_one_id() -> None:
    files = shipped()
    sv = files.prompts["sv"]
    without = "\n".join(line for line in sv.splitlines() if not line.startswith("  lookup_limit:"))
    with pytest.raises(FlowInvalid) as caught:
        compile_files(FlowFiles(files.flow, {**files.prompts, "sv": without}), language="en")
    assert caught.value.source == "prompts/sv.yaml"
    assert caught.value.problems[0].code is ProblemCode.MISSING_PROMPT
    assert "prompt 'lookup_limit' is missing in language 'sv'" in caught.value.lines()[0]


def test_every_choice_a_german_or_swedish_menu_names_is_understood_when_said() -> None:
    compiled = compile_files(shipped(), language="en", languages=("en", "de", "sv"))
    assert not [w for w in compiled.warnings if "(de)" in w or "(sv)" in w]


@pytest.mark.parametrize(
    ("language", "said", "offered"),
    [
        ("de", "die 4 für Servicepakete", "die 4 für Zubehör"),
        ("sv", "4 för serviceavtal", "4 för tillbehör"),
    ],
)
def test_a_menu_naming_a_choice_its_words_miss_is_warned_in_that_language(
    language: str, said: str, offered: str
) -> None:
    files = shipped()
    text = files.prompts[language]
    assert said in text
    changed = FlowFiles(files.flow, {**files.prompts, language: text.replace(said, offered)})
    warnings = compile_files(changed, language="en").warnings
    choice = offered.split()[-1].lower()
    assert any(f"'faq_menu' ({language}) offers '{choice}' for key 4" in w for w in warnings), warnings


@pytest.mark.parametrize(("language", "espeak"), [("de", "gmw/de"), ("sv", "gmq/sv")])
async def test_every_fixed_prompt_renders_to_audible_8_khz_audio_in_its_languages_voice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, language: str, espeak: str
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.speech.tts")
    texts = sorted(set(load_catalogs(ROOT / "prompts")[language].static_texts()))
    assert len(texts) > 30
    async with Pyttsx3Synthesizer(voice=language) as synthesizer:
        clips = UlawClips(PromptAudioCache(tmp_path, synthesizer, b"k" * 32))
        for text in texts:
            samples = audio.ulaw_decode(await clips.get(text))
            assert len(samples) / 8000 > 0.8, text  # seconds of speech at 8 kHz
            assert audio.rms(samples) > 500, text
    started = [r.getMessage() for r in caplog.records if "tts_worker_started" in r.getMessage()]
    assert started and all(f"voice {espeak}," in line for line in started), started
