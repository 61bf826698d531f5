"""Markets: what a line number's country needs besides its language.

A German caller on the German number must hear German hours in Berlin time, a pickup
place in Germany, prices in euros and the rights German law gives them (2 years of
gesetzliche Gewährleistung, 14 days of Widerrufsrecht); a Swedish caller the same for
Sweden. Translating the American line gets none of that right, so each market is one
YAML file (`markets/<code>.yaml`, IVR_MARKETS): the numbers it answers, its language, its
business hours, its pickup places, its currency and prices, and the consumer-rights
sentences its warranty and returns answers begin with. One file holds a market, and a
file missing any piece is refused with its line and reason: a market with no rights text
would quietly fall back to another country's law.

Prices are written as numbers and said as the caller's language writes money (CLDR, via
Babel): "490 kr", "49,00 €", "$49". Hours name their time zone only when the caller's
number lies in another zone (`phonenumbers`): "von 8 bis 18 Uhr" to a Berliner, "(Central
European Time)" added for a caller from New York.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import phonenumbers
from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_name
from phonenumbers import timezone as number_zones

from ivr.flow.opening import PICKUP_HOURS, PICKUP_LOCATION, PLAN_PRICES, RETURN_RIGHTS, WARRANTY_RIGHTS
from ivr.hours import BusinessHours, check_hours
from ivr.store.retention import KINDS, Retention
from ivr.yamlsource import Document, SourceError, load_file

_KEYS = (
    "name",
    "language",
    "numbers",
    "default",
    "currency",
    "cents",
    "hours",
    "places",
    "prices",
    "rights",
    "retention",
    "recording_notice",
)
_REQUIRED = (
    "name",
    "language",
    "numbers",
    "currency",
    "cents",
    "hours",
    "places",
    "prices",
    "rights",
    "retention",
)
_PLACE_KEYS = ("name", "address", "hours")
_RIGHTS = ("warranty", "returns")
_CENTS = ("always", "when_needed")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a customer picks up a repair or drops off a return, as said in the market's language."""

    name: str
    address: str
    """As it is said on the phone ("Torstraße 12 in Berlin-Mitte"), not as it is printed."""
    hours: str
    """The place's own hours in words ("Montag bis Freitag von 9 bis 18 Uhr")."""


@dataclass(frozen=True, slots=True)
class Market:
    code: str
    """The file's name: `de` for markets/de.yaml."""
    name: str
    language: str
    """The language its numbers speak (one the line serves)."""
    numbers: tuple[str, ...]
    """The line numbers (E.164) that answer for this market."""
    hours: BusinessHours
    currency: str
    """ISO 4217: EUR, SEK, USD."""
    cents_always: bool
    """"49,00 €" (German price lists) rather than "490 kr" / "$49" for whole amounts."""
    places: tuple[Place, ...]
    prices: Mapping[str, Decimal]
    """Named prices the prompts say (`basic_plan`, `premium_plan`)."""
    warranty_rights: str
    returns_rights: str
    retention: Retention
    """Days each kind of record of a call to this market's numbers is kept (`ivr.store.retention`)."""
    default: bool = False
    """The market of a number no market lists (a shared number)."""
    recording_notice: bool = True
    """A caller about to leave a voicemail is told it is recorded and who hears it; a market
    whose law or custom needs no notice may turn it off (`recording_notice: false`)."""

    def price(self, name: str, locale: str) -> str:
        """A price as `locale` (a prompts file's tag, 'de-DE') writes this market's money."""
        return money(self.prices[name], self.currency, locale, self.cents_always)

    def values(self, locale: str) -> dict[str, str]:
        """The prompt values this market gives every call it answers, in `locale`'s words."""
        place = self.places[0]  # the market's main place: the one a caller is sent to
        return {
            PICKUP_LOCATION: f"{place.name}, {place.address}",
            PICKUP_HOURS: place.hours,
            WARRANTY_RIGHTS: self.warranty_rights,
            RETURN_RIGHTS: self.returns_rights,
            **{variable: self.price(name, locale) for name, variable in PLAN_PRICES.items()},
        }


@dataclass(frozen=True, slots=True)
class Markets:
    by_code: Mapping[str, Market]

    @property
    def default(self) -> Market:
        return next(m for m in self.by_code.values() if m.default)

    def for_number(self, called: str) -> Market:
        """The market a called number answers for; the default one for a number none lists."""
        return next((m for m in self.by_code.values() if called in m.numbers), self.default)

    def retention(self, called: str) -> Retention:
        """How long records of a call to `called` are kept: its market's retention."""
        return self.for_number(called).retention

    @property
    def shortest_retention(self) -> int:
        """The fewest days any market keeps any kind of record."""
        return min(getattr(m.retention, kind) for m in self.by_code.values() for kind in KINDS)


class MarketsInvalid(ValueError):
    """Every mistake in the market files, each with its file and line."""

    def __init__(self, problems: list[SourceError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def money(amount: Decimal, currency: str, locale: str, cents_always: bool = False) -> str:
    """'490 kr', '49,00 €', '$49': CLDR's pattern for `locale`, without the cents of a whole
    amount unless the market always writes them."""
    tag = locale.replace("-", "_")
    if cents_always or amount != amount.to_integral_value():
        text = format_currency(amount, currency, locale=tag)
    else:
        pattern = Locale.parse(tag).currency_formats["standard"].pattern.split(";")[0].replace(".00", "")
        text = format_currency(amount, currency, locale=tag, format=pattern, currency_digits=False)
    return text.replace("\xa0", " ")  # CLDR's no-break space: a voice reads a plain one the same


def number_zone(number: str) -> str:
    """The IANA zone a phone number lies in, or '' when unknown or when it spans several."""
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return ""
    known = [z for z in zones if z != number_zones.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 else ""


def load_markets(directory: Path, languages: tuple[str, ...]) -> Markets:
    """Every `*.yaml` in `directory`, each a whole market, exactly one of them the default.

    Raises:
        MarketsInvalid: listing every problem, each with its file and line.
    """
    problems: list[SourceError] = []
    markets: dict[str, Market] = {}
    owner: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise MarketsInvalid([SourceError(str(directory), None, "no market files (*.yaml) here")])
    for path in files:
        try:
            doc = load_file(path)
        except SourceError as exc:
            problems.append(exc)
            continue
        market = _market(doc, path.stem, languages, problems)
        if market is None:
            continue
        for number in market.numbers:
            if number in owner:
                problems.append(
                    doc.error(("numbers",), f"{number} is already in markets/{owner[number]}.yaml")
                )
            owner[number] = market.code
        markets[market.code] = market
    defaults = [m.code for m in markets.values() if m.default]
    if not problems and len(defaults) != 1:
        found = ", ".join(defaults) or "none"
        problems.append(
            SourceError(str(directory), None, f"exactly one market needs 'default: true' (found: {found})")
        )
    if problems:
        raise MarketsInvalid(problems)
    return Markets(markets)


def _market(
    doc: Document, code: str, languages: tuple[str, ...], problems: list[SourceError]
) -> Market | None:
    before = len(problems)

    def fail(path: tuple[str | int, ...], message: str) -> None:
        problems.append(doc.error(path, message))

    data = doc.data
    if not isinstance(data, dict):
        fail((), "a market is a mapping: name, language, numbers, currency, hours, places, prices, rights")
        return None
    for key in sorted(set(data) - set(_KEYS)):
        fail((key,), f"unknown market setting '{key}'; allowed: {', '.join(_KEYS)}")
    for key in _REQUIRED:
        if key not in data:
            fail((), f"'{key}' is missing: a market without it cannot answer its callers")
    name = _text(data, ("name",), fail)
    language = _text(data, ("language",), fail)
    if language and language not in languages:
        fail(("language",), f"the line does not speak '{language}' (IVR_LANGUAGES: {', '.join(languages)})")
    numbers = _numbers(data.get("numbers"), fail)
    currency = _currency(data.get("currency"), fail)
    cents = data.get("cents")
    if "cents" in data and cents not in _CENTS:
        fail(("cents",), f"'cents' must be one of {', '.join(_CENTS)}")
    hours = check_hours(data["hours"], ("hours",), fail) if "hours" in data else None
    places = _places(data.get("places"), fail) if "places" in data else ()
    prices = _prices(data.get("prices"), fail) if "prices" in data else {}
    rights = data.get("rights")
    if "rights" in data and not isinstance(rights, dict):
        fail(("rights",), f"'rights' is a mapping with {' and '.join(_RIGHTS)}")
        rights = {}
    warranty = _text(rights, ("rights", "warranty"), fail) if isinstance(rights, dict) else ""
    returns = _text(rights, ("rights", "returns"), fail) if isinstance(rights, dict) else ""
    retention = _retention(data.get("retention"), fail) if "retention" in data else None
    default = data.get("default", False)
    if not isinstance(default, bool):
        fail(("default",), "'default' is true or false")
    notice = data.get("recording_notice", True)
    if not isinstance(notice, bool):
        fail(("recording_notice",), "'recording_notice' is true or false")
    if len(problems) > before or hours is None or retention is None:
        return None
    return Market(
        code=code,
        name=name,
        language=language,
        numbers=numbers,
        hours=hours,
        currency=currency,
        cents_always=cents == "always",
        places=places,
        prices=prices,
        warranty_rights=warranty,
        returns_rights=returns,
        retention=retention,
        default=bool(default),
        recording_notice=bool(notice),
    )


def _text(data: Mapping[str, Any], path: tuple[str | int, ...], fail: Any) -> str:
    value = data.get(str(path[-1]))
    if not isinstance(value, str) or not " ".join(value.split()):
        fail(path, f"'{path[-1]}' must be a text, said to callers as it is written")
        return ""
    return " ".join(value.split())


def _numbers(value: Any, fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        fail(("numbers",), "'numbers' is a list of the line numbers (E.164) this market answers")
        return ()
    numbers = []
    for index, number in enumerate(value):
        if not isinstance(number, str) or not number.startswith("+") or not number[1:].isdigit():
            fail(("numbers", index), f"{number!r} is not a phone number like +4930555010")
        else:
            numbers.append(number)
    return tuple(numbers)


def _currency(value: Any, fail: Any) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isupper():
        fail(("currency",), "'currency' is an ISO 4217 code like EUR, SEK or USD")
        return ""
    try:
        known = get_currency_name(value, locale="en") != value
    except UnknownLocaleError:
        known = False
    if not known:
        fail(("currency",), f"unknown currency '{value}'")
    return value


def _places(value: Any, fail: Any) -> tuple[Place, ...]:
    if not isinstance(value, list) or not value:
        fail(("places",), "'places' lists at least one pickup or drop-off place (name, address, hours)")
        return ()
    places = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            fail(("places", index), "a place is a mapping with name, address and hours")
            continue
        for key in sorted(set(item) - set(_PLACE_KEYS)):
            fail(("places", index, key), f"unknown place setting '{key}'; allowed: {', '.join(_PLACE_KEYS)}")
        texts = [_text(item, ("places", index, key), fail) for key in _PLACE_KEYS]
        places.append(Place(*texts))
    return tuple(places)


def _retention(value: Any, fail: Any) -> Retention | None:
    """Days per kind of record, written `30d` (or a plain number of days)."""
    if not isinstance(value, dict):
        fail(("retention",), f"'retention' gives days for each of {', '.join(KINDS)}, like 90d")
        return None
    days: dict[str, int] = {}
    for kind in KINDS:
        raw = value.get(kind)
        text = str(raw).strip().removesuffix("d") if isinstance(raw, int | str) else ""
        if not text.isdigit() or int(text) < 1:
            where = ("retention", kind) if kind in value else ("retention",)
            fail(where, f"'{kind}' must be a number of days of at least 1, like 90d")
        else:
            days[kind] = int(text)
    for kind in sorted(set(value) - set(KINDS)):
        fail(("retention", kind), f"unknown kind of record '{kind}'; allowed: {', '.join(KINDS)}")
    return Retention(**days) if len(days) == len(KINDS) else None


def _prices(value: Any, fail: Any) -> dict[str, Decimal]:
    if not isinstance(value, dict):
        fail(("prices",), f"'prices' is a mapping with {', '.join(PLAN_PRICES)}")
        return {}
    prices = {}
    for name in PLAN_PRICES:
        amount = value.get(name)
        try:
            price = Decimal(str(amount)) if isinstance(amount, int | float | str) else None
        except InvalidOperation:
            price = None
        if price is None or not price.is_finite() or price < 0:
            fail(
                ("prices", name) if name in value else ("prices",),
                f"'{name}' must be an amount like 49 or 49.90",
            )
        else:
            prices[name] = price
    for name in sorted(set(value) - set(PLAN_PRICES)):
        fail(("prices", name), f"unknown price '{name}'; the prompts say {', '.join(PLAN_PRICES)}")
    return prices
