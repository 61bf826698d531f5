"""One line, several languages: how a call's language is decided, and that the whole call
then speaks it, over the real server with signed webhooks (Twilio mode).

The line here is the three-language fixture in `tests/fixtures/languages/` (the shipped
line serves English until the native German and Swedish prompts arrive).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient

from ivr.cli import main as cli_main
from ivr.config import ConfigError, Settings
from ivr.flow.evaluation import read_sentences
from ivr.flow.language_choice import OFFER_AFTER, LanguageChoice, vocabulary
from ivr.flow.loader import load_flow
from ivr.flow.matching import IntentMatcher
from ivr.importer import ImportFailed, ImportKind, parse_text
from ivr.languages import LanguagePlan
from ivr.outreach.service import OutreachConfig
from ivr.prompts import load_catalogs
from ivr.session import CallSession
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.sql import Sql
from ivr.testing.caller import Caller, Turn
from ivr.testing.demo_line import ROOT, TODAY, make_settings
from ivr.web.app import create_app

LINE = Path(__file__).resolve().parent / "fixtures" / "languages"
SHARED = "+15550009999"  # ivr.testing.caller's `To`: a number with no language of its own
GERMAN = "+4930555010"
SWEDISH = "+46812345"
CHOICE = [
    "For English, say English or press 1.",
    "Für Deutsch sagen Sie Deutsch oder drücken Sie die 2.",
    "För svenska, säg svenska eller tryck 3.",
]
GREETING = "Thanks for calling Acme."


def line_settings(tmp_path: Path, **env: str) -> Settings:
    return make_settings(
        tmp_path,
        IVR_FLOW=str(LINE / "flows" / "support.yaml"),
        IVR_PROMPTS=str(LINE / "prompts"),
        IVR_LANGUAGES="en,de,sv",
        IVR_NUMBER_LANGUAGES=f"{GERMAN}=de,{SWEDISH}=sv",
        **env,
    )


@pytest.fixture
async def line(aiohttp_client: Callable, tmp_path: Path) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(line_settings(tmp_path), today=lambda: TODAY))
    return client


def says(turn: Turn) -> list[tuple[str, str, str]]:
    """(text, language, voice) of every <Say>, in order."""
    return [
        ((el.text or "").strip(), el.get("language", ""), el.get("voice", "")) for el in turn.root.iter("Say")
    ]


class Dialled(Caller):
    """A caller who dials a given number of the line."""

    def __init__(self, client: TestClient, to: str, phone: str = "+15550100001") -> None:
        super().__init__(client, phone)
        self.to = to

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**super().params(extra), "To": self.to}


# Settings


def test_languages_setting_names_the_default_first_and_numbers_get_their_own(tmp_path: Path) -> None:
    settings = line_settings(tmp_path)
    assert settings.languages == ("en", "de", "sv")
    assert settings.language == "en"
    assert settings.number_languages == {GERMAN: "de", SWEDISH: "sv"}
    assert settings.vosk_models["de"] == tmp_path / "models" / "de"


def test_the_older_single_language_setting_still_works(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, IVR_LANGUAGE="en")
    assert (settings.language, settings.languages) == ("en", ("en",))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IVR_LANGUAGES": "en,Deutsch"}, "IVR_LANGUAGES"),
        ({"IVR_LANGUAGES": "en,de,en"}, "twice"),
        ({"IVR_LANGUAGES": "en,de", "IVR_LANGUAGE": "de"}, "disagree"),
        ({"IVR_LANGUAGES": "en,de", "IVR_NUMBER_LANGUAGES": "+4930555010=sv"}, "does not serve"),
        ({"IVR_LANGUAGES": "en,de", "IVR_NUMBER_LANGUAGES": "030555010=de"}, "IVR_NUMBER_LANGUAGES"),
        ({"IVR_LANGUAGES": "en,de", "IVR_NUMBER_LANGUAGES": "+4930555010"}, "IVR_NUMBER_LANGUAGES"),
        ({"IVR_LANGUAGES": "en,de", "IVR_REVIEW_URL_SV": "https://r.example.com/sv"}, "does not serve 'sv'"),
        ({"IVR_LANGUAGES": "en,de", "IVR_REVIEW_URL_DE": "reviews.example.com"}, "IVR_REVIEW_URL_DE"),
        ({"IVR_INBOUND_SURVEY": "yes"}, "IVR_INBOUND_SURVEY"),
    ],
)
def test_bad_language_settings_stop_start_up(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        make_settings(tmp_path, **env)


def test_each_language_may_have_its_own_review_link_and_the_others_get_the_default(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        IVR_LANGUAGES="en,de,sv",
        IVR_REVIEW_URL="https://reviews.example.com/acme",
        IVR_REVIEW_URL_DE="https://reviews.example.com/acme-de",
    )
    config = OutreachConfig.from_settings(settings)
    assert config.review_url_for("de") == "https://reviews.example.com/acme-de"
    assert config.review_url_for("sv") == config.review_url_for("en") == "https://reviews.example.com/acme"


def test_a_served_language_without_prompts_stops_start_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, IVR_LANGUAGES="en,fr")  # the shipped line has en, de, sv
    with pytest.raises(ValueError, match="'fr' has no prompts file"):
        create_app(settings)


def test_the_choice_takes_a_key_or_a_language_named_in_any_of_them() -> None:
    plan = LanguagePlan(("en", "de", "sv"))
    assert [plan.chosen(key=k) for k in "1234"] == ["en", "de", "sv", None]
    assert plan.chosen(said="Deutsch bitte") == "de"
    assert plan.chosen(said="svenska") == "sv"
    assert plan.chosen(said="Swedish please") == "sv"
    assert plan.chosen(said="english oder deutsch") is None  # two named: ask again
    assert plan.chosen(said="hello") is None


def test_a_sentence_is_told_apart_by_the_words_only_its_language_uses() -> None:
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    languages = ("en", "de", "sv")
    words = {
        code: vocabulary(catalogs[code], IntentMatcher(flow.intents, code).phrases) for code in languages
    }
    choice = LanguageChoice(LanguagePlan(languages), catalogs, words, lambda: TODAY)
    assert choice.spoken("wo bleibt denn meine Bestellung") == "de"
    assert choice.spoken("jag väntar fortfarande på min beställning") == "sv"
    assert choice.spoken("where's my order gone") == "en"
    assert choice.spoken("4512") is None  # no words: no language
    assert choice.spoken("okay") is None  # shared, or nobody's
    assert choice.spoken("ja", least=2) is None  # one word is no reason to offer a language


@pytest.mark.parametrize("language", ["en", "de", "sv"])
def test_no_labelled_caller_sentence_is_taken_for_another_language(language: str) -> None:
    """The offer of another language must never come to a caller speaking the line's own: over
    the labelled sentences (tests/data/callers_*), none is offered another language, and nearly
    all are told to be their own."""
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    languages = ("en", "de", "sv")
    words = {c: vocabulary(catalogs[c], IntentMatcher(flow.intents, c).phrases) for c in languages}
    choice = LanguageChoice(LanguagePlan(languages), catalogs, words, lambda: TODAY)
    _, sentences = read_sentences(ROOT / "tests" / "data" / f"callers_{language}.yaml")
    found = [choice.spoken(text, least=OFFER_AFTER) for text, _ in sentences]
    assert not [
        text for (text, _), code in zip(sentences, found, strict=True) if code not in (None, language)
    ]
    assert found.count(language) >= 0.95 * len(sentences)


def test_a_side_question_saved_by_an_older_release_is_taken_up() -> None:
    """Before schema 4 the language choice and the survey were keys of `attempts`."""
    old = {"call_sid": "CA1", "caller": "+1", "called": "+2", "flow": "support", "state": "welcome"}
    for key, dialog in (("language#choice", "language"), ("survey#asked", "survey")):
        session = CallSession.from_json(
            orjson.dumps({**old, "started_at": 0, "schema": 3, "attempts": {key: 1}})
        )
        assert (session.dialog, session.dialog_tries, session.attempts) == (dialog, 1, {})


# Calls


async def test_a_call_to_the_german_number_is_german_from_greeting_to_goodbye(line: TestClient) -> None:
    caller = Dialled(line, GERMAN)
    turn = await caller.dial()
    assert says(turn) == [
        ("Willkommen beim Kundendienst von Acme.", "de-DE", "Polly.Vicki"),
        (
            "Zu einer Bestellung drücken Sie die 1. Zu einer Reparatur die 2. Für einen Mitarbeiter die 0.",
            "de-DE",
            "Polly.Vicki",
        ),
    ]
    gather = turn.gather
    assert gather is not None
    assert gather.get("language") == "de-DE"
    assert gather.get("hints", "").startswith("bestellung, meine bestellung")
    turn = await caller.say("Wo ist meine Bestellung?")
    assert turn.text == "Bitte geben Sie Ihre Bestellnummer ein und drücken Sie dann die Raute."
    turn = await caller.press("4512#")
    assert [s[0] for s in says(turn)] == [
        "Bestellung 4 5 1 2. Vielen Dank.",
        "Danke für Ihren Anruf bei Acme. Auf Wiederhören.",
    ]
    assert {s[1] for s in says(turn)} == {"de-DE"}
    assert turn.hung_up


async def test_a_swedish_caller_asking_for_a_person_reaches_one(line: TestClient) -> None:
    caller = Dialled(line, SWEDISH)
    turn = await caller.dial()
    assert turn.heard[0] == "Välkommen till Acmes kundtjänst."
    turn = await caller.say("jag vill prata med någon")
    assert turn.text == "Vänta kvar, jag kopplar dig till en handläggare."
    assert says(turn)[0][1:] == ("sv-SE", "Polly.Astrid")
    assert turn.handoff is not None


async def test_the_shared_number_offers_the_choice_each_option_in_its_own_voice(
    line: TestClient, tmp_path: Path
) -> None:
    caller = Dialled(line, SHARED)
    turn = await caller.dial()
    assert says(turn) == [
        (GREETING, "en-US", "Polly.Joanna"),  # greeted first, never "For English, press 1"
        (CHOICE[0], "en-US", "Polly.Joanna"),
        (CHOICE[1], "de-DE", "Polly.Vicki"),
        (CHOICE[2], "sv-SE", "Polly.Astrid"),
    ]
    assert turn.gather is not None and turn.gather.get("input") == "dtmf speech"
    turn = await caller.press("3")
    assert turn.heard[0] == "Välkommen till Acmes kundtjänst."
    assert turn.gather is not None and turn.gather.get("language") == "sv-SE"
    await caller.hang_up()
    with sqlite3.connect(tmp_path / "ivr.db") as conn:
        stored = conn.execute("SELECT caller, language, source FROM caller_languages").fetchall()
    assert stored == [("+15550100001", "sv", "chosen")]


async def test_a_caller_who_chose_before_is_greeted_in_it_and_can_switch_with_star(line: TestClient) -> None:
    first = Dialled(line, SHARED)
    await first.dial()
    await first.say("Deutsch")
    await first.hang_up()

    again = Dialled(line, SHARED)
    turn = await again.dial()
    assert turn.heard[0] == "Willkommen beim Kundendienst von Acme."
    # The way out is said in the other languages, so someone else on that phone understands it.
    assert ("For English, press star.", "en-US", "Polly.Joanna") in says(turn)
    assert ("För svenska, tryck stjärna.", "sv-SE", "Polly.Astrid") in says(turn)
    turn = await again.press("*")
    assert [s[0] for s in says(turn)] == CHOICE
    turn = await again.press("1")  # mid-call: the question again, in English, without a greeting
    assert turn.text == "For an order, press 1. For a repair, press 2. To speak with an agent, press 0."
    assert {s[1] for s in says(turn)} == {"en-US"}


async def test_a_request_said_in_a_language_chooses_it_and_is_answered(line: TestClient) -> None:
    caller = Dialled(line, SHARED, phone="+15550123456")
    await caller.dial()
    turn = await caller.say("Ich brauche einen Mitarbeiter")
    assert turn.heard[0] == "Willkommen beim Kundendienst von Acme."
    assert turn.handoff is not None  # the request was taken, not asked for again
    assert {s[1] for s in says(turn)} == {"de-DE"}


async def test_a_caller_speaking_german_on_the_english_line_is_offered_german_once(line: TestClient) -> None:
    caller = Dialled(line, SHARED, phone="+15550123456")
    await caller.dial()
    turn = await caller.press("1")  # English, by key
    turn = await caller.say("ich weiß nicht genau, was ich hier drücken soll")
    assert says(turn) == [
        (
            "Möchten Sie lieber auf Deutsch weitermachen? Dann sagen Sie ja oder drücken Sie die 1.",
            "de-DE",
            "Polly.Vicki",
        )
    ]
    turn = await caller.say("nein")  # the question again, in English
    assert turn.text == "For an order, press 1. For a repair, press 2. To speak with an agent, press 0."
    turn = await caller.say("ich weiß wirklich nicht, was ich hier drücken soll")
    assert "Deutsch" not in turn.text  # offered once a call
    assert {s[1] for s in says(turn)} == {"en-US"}


async def test_a_caller_who_does_not_choose_goes_on_in_the_default_language(line: TestClient) -> None:
    caller = Dialled(line, SHARED, phone="+15550123456")
    turn = await caller.dial()
    assert [s[0] for s in says(turn)] == [GREETING, *CHOICE]
    turn = await caller.silence()
    assert [s[0] for s in says(turn)] == CHOICE
    turn = await caller.say("hmm")
    assert [s[0] for s in says(turn)] == CHOICE
    turn = await caller.silence()
    assert turn.heard[0] != GREETING  # greeted once, at the start
    assert turn.text.startswith("For an order, press 1.")


# Languages on file


ORDERS = (
    "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta,language\n"
    "4512,+4930111222,Jana Berg,10115,shipped,DHL,00340434,2026-11-20,2026-11-21,2026-11-24,de\n"
    "4513,+46701234567,Sven Ek,11122,received,,,2026-11-22,,,sv\n"
    "4514,+15550100001,Jane Doe,94110,received,,,2026-11-22,,,\n"
)


def test_the_orders_file_may_give_each_customer_a_language() -> None:
    orders = parse_text(ImportKind.ORDERS, ORDERS, "orders.csv")
    assert [o.language for o in orders] == ["de", "sv", ""]
    without = "".join(line.rsplit(",", 1)[0] + "\n" for line in ORDERS.splitlines())  # as before
    assert {o.language for o in parse_text(ImportKind.ORDERS, without, "orders.csv")} == {""}


def test_a_language_that_is_no_language_code_refuses_the_file() -> None:
    with pytest.raises(ImportFailed) as caught:
        parse_text(ImportKind.ORDERS, ORDERS.replace(",de\n", ",Deutsch\n"), "orders.csv")
    assert (
        str(caught.value) == "orders.csv line 2: language 'Deutsch' is not a language code like en, de or sv"
    )


async def test_an_import_never_overrides_a_callers_own_choice(sql: Sql) -> None:
    languages = SqlCallerLanguages(sql)
    await languages.remember("+46701234567", "en")  # Sven chose English on a call
    await languages.import_orders({"+4930111222": "de", "+46701234567": "sv"})
    assert await languages.language("+4930111222") == "de"
    assert await languages.language("+46701234567") == "en"
    await languages.remember("+4930111222", "sv")  # a choice overrides the file
    await languages.import_orders({"+4930111222": "de"})
    assert await languages.language("+4930111222") == "sv"
    assert await languages.language("+15550100001") is None


async def test_a_customer_on_file_with_a_language_is_greeted_in_it(
    line: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    assert await asyncio.to_thread(cli_main, ["import", "orders", str(orders)]) == 0
    assert "Imported 3 orders" in capsys.readouterr().out
    turn = await Dialled(line, SHARED, phone="+46701234567").dial()
    assert turn.heard[0] == "Välkommen till Acmes kundtjänst."
    assert ("Für Deutsch drücken Sie die Sterntaste.", "de-DE", "Polly.Vicki") in says(turn)
    turn = await Dialled(line, SHARED, phone="+15550100001").dial()  # on file, no language
    assert [s[0] for s in says(turn)] == [GREETING, *CHOICE]
