"""Markets: each number's hours, places, prices and rights, and the files that hold them.

A market missing a piece must stop start-up with its file, line and reason (a German line
with no rights text would answer with none, or with another country's); prices are said
as the market's money is written in the caller's language; hours name a time zone only to
a caller from another one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ivr.config import ConfigError
from ivr.hours import ScheduleOpening
from ivr.markets import MarketsInvalid, load_markets, money, number_zone
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER
from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app

SHIPPED = ROOT / "markets"
LANGUAGES = ("en", "de", "sv")
EVENING_IN_BERLIN = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)
"""20:30 in Berlin and Stockholm (closed), 14:30 in New York (open)."""


def test_the_shipped_markets_load_and_each_number_finds_its_own() -> None:
    markets = load_markets(SHIPPED, LANGUAGES)
    assert markets.for_number("+4930555010").name == "Deutschland"
    assert markets.for_number("+46812345").name == "Sverige"
    assert markets.for_number("+15550009999").name == "United States"
    assert markets.for_number("+15550001234").name == "United States"  # a shared number: the default


def test_prices_are_said_as_each_market_writes_its_money() -> None:
    markets = load_markets(SHIPPED, LANGUAGES)
    assert markets.by_code["se"].price("basic_plan", "sv-SE") == "490 kr"
    assert markets.by_code["de"].price("basic_plan", "de-DE") == "49,00 €"
    assert markets.by_code["us"].price("basic_plan", "en-US") == "$49"
    assert money(Decimal("49.5"), "USD", "en-US") == "$49.50"  # cents are said when there are some


def test_a_callers_zone_comes_from_their_number() -> None:
    assert number_zone("+4930123456") == "Europe/Berlin"
    assert number_zone("+46812349876") == "Europe/Stockholm"
    assert number_zone("+15550199999") == ""  # a fictional 555 number lies nowhere
    assert number_zone("not a number") == ""


async def test_a_closed_german_line_says_berlin_hours_and_names_the_zone_only_to_others() -> None:
    markets = load_markets(SHIPPED, LANGUAGES)

    async def no_emergency() -> bool:
        return False

    opening = ScheduleOpening(
        markets.default.hours,
        no_emergency,
        clock=lambda: EVENING_IN_BERLIN,
        market=markets.for_number,
        caller_zone=number_zone,
    )
    berliner = await opening.now("de-DE", called="+4930555010", caller="+4930123456")
    assert not berliner.open
    assert berliner.next_opening == "Wir sind morgen um 8 Uhr wieder für Sie da."
    assert berliner.hours == "Montag bis Freitag von 8 bis 18 Uhr und Samstag von 9 bis 13 Uhr"
    values = berliner.values()
    assert values["pickup_location"] == "unserem Servicepunkt Berlin-Mitte, Torstraße 12"
    assert values["basic_plan_price"] == "49,00 €"
    assert "gesetzliche Gewährleistung" in values["warranty_rights"]
    assert "Widerrufsrecht von 14 Tagen" in values["return_rights"]
    from_new_york = await opening.now("de-DE", called="+4930555010", caller="+12125550101")
    assert from_new_york.hours.endswith("(Mitteleuropäische Zeit)")
    swede = await opening.now("sv-SE", called="+46812345", caller="+46812349876")
    assert swede.next_opening == "Vi öppnar igen i morgon klockan 8."
    assert "3 års reklamationsrätt" in swede.values()["warranty_rights"]
    assert swede.values()["basic_plan_price"] == "490 kr"
    american = await opening.now("en-US", called="+15550009999", caller="+12125550101")
    assert american.open and american.hours.startswith("Monday to Friday")


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "markets"
    shutil.copytree(SHIPPED, folder)
    return folder


def test_a_market_missing_its_rights_is_refused_with_file_and_reason(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    german = folder / "de.yaml"
    text = german.read_text()
    german.write_text(text[: text.index("rights:")])
    with pytest.raises(MarketsInvalid) as refused:
        load_markets(folder, LANGUAGES)
    assert f"{german}" in str(refused.value)
    assert "'rights' is missing" in str(refused.value)


def test_a_place_without_hours_is_refused_at_its_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    swedish = folder / "se.yaml"
    lines = swedish.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("hours: måndag"))
    del lines[at]
    swedish.write_text("\n".join(lines) + "\n")
    with pytest.raises(MarketsInvalid) as refused:
        load_markets(folder, LANGUAGES)
    place = next(i for i, line in enumerate(lines) if "- name: Acme Service" in line) + 1
    assert f"{swedish} line {place}: 'hours' must be a text" in str(refused.value)


def test_start_up_stops_on_a_broken_market_and_on_two_languages_for_one_number(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "de.yaml").write_text(
        (folder / "de.yaml").read_text().replace("currency: EUR", "currency: EURO")
    )
    settings = make_settings(tmp_path, IVR_MARKETS=str(folder), IVR_LANGUAGES="en,de,sv")
    with pytest.raises(ConfigError, match="currency"):
        create_app(settings)
    settings = make_settings(
        tmp_path, IVR_MARKETS=str(SHIPPED), IVR_LANGUAGES="en,de,sv", IVR_NUMBER_LANGUAGES="+4930555010=sv"
    )
    with pytest.raises(ConfigError, match="name a number's language in one place"):
        create_app(settings)
    with pytest.raises(ConfigError, match="IVR_HOURS and IVR_MARKETS"):
        make_settings(tmp_path, IVR_MARKETS=str(SHIPPED), IVR_HOURS=str(ROOT / "flows" / "hours.yaml"))


class Dialler(Caller):
    """A caller who dials one of the line's numbers."""

    def __init__(self, client: Any, phone: str, to: str) -> None:
        super().__init__(client, phone=phone)
        self.to = to

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**super().params(extra), "To": self.to}


async def closed_desk_says(
    aiohttp_client: Callable, tmp_path: Path, markets: Path, caller: str, to: str
) -> str:
    """What a caller hears after pressing 0 on the line with the agent desk, at 20:30 in Berlin."""
    settings = make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=TWILIO_API_BASE,
        IVR_MARKETS=str(markets),
        IVR_LANGUAGES="en,de,sv",
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY, now=lambda: EVENING_IN_BERLIN))
    dialler = Dialler(client, caller, to)
    await dialler.dial()
    return (await dialler.press("0")).text


TWILIO_API_BASE = "http://127.0.0.1:9"
"""The desk needs a Twilio account to exist; a closed line never calls it."""


async def test_the_desk_on_a_closed_german_number_says_berlin_hours_and_the_recording_notice(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    said = await closed_desk_says(aiohttp_client, tmp_path, SHIPPED, "+4930123456", "+4930555010")
    assert said.startswith("Leider haben wir gerade geschlossen. Wir sind morgen um 8 Uhr wieder für Sie da.")
    assert "Montag bis Freitag von 8 bis 18 Uhr" in said
    assert "Ihre Nachricht wird aufgezeichnet und nur von unserem Kundenservice angehört." in said
    assert said.index("aufgezeichnet") < said.index("Signalton")  # the notice comes before the beep


async def test_a_market_may_turn_the_recording_notice_off(aiohttp_client: Callable, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    swedish = folder / "se.yaml"
    swedish.write_text(swedish.read_text() + "recording_notice: false\n")
    said = await closed_desk_says(aiohttp_client, tmp_path, folder, "+46812349876", "+46812345")
    assert said.startswith("Tyvärr har vi stängt just nu. Vi öppnar igen i morgon klockan 8.")
    assert "spelas in" not in said and "Berätta efter tonen" in said
