"""Turning data into words a caller can follow on the phone.

Numbers are read digit by digit ("1 2 3 4", never "one thousand two hundred ...")
and dates as words ("Friday, December 4"), because that is what a caller can write
down or check against a receipt. Both speech engines (Twilio `<Say>` and espeak-ng)
read space-separated digits one at a time.

Dates near today are said as people say them ("today", "tomorrow", "on Friday"): a
caller should not have to work out that Friday, December 4 is the day after tomorrow.
Month, weekday and relative-day names come from CLDR (Babel) for the line's locale, so
a German or Swedish line needs no table of its own here. What CLDR has no field for is
the glue a sentence puts around a day: "on Friday" / "am Freitag" / "på fredag" (`_ON_DAY`),
"on December 4" / "am 4. Dezember" / "den 4 december" (`_ON_DATE`), and the article spoken
between a weekday and its date, "Freitag, dem 4. Dezember", "fredag den 4 december"
(`_DAY_AND_DATE`): written forms drop it, but a German or Swedish voice says it. That glue is
each language's own, in `ivr.locales`.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache

import phonenumbers
from babel import Locale
from babel.dates import format_date

from ivr.locales import DAY_AND_DATE as _DAY_AND_DATE
from ivr.locales import ON_DATE as _ON_DATE
from ivr.locales import ON_DAY as _ON_DAY

WEEK_AHEAD = 6
"""Up to this many days ahead a date is said by its weekday alone ("on Friday")."""


def digits(value: str) -> str:
    """Read a number digit by digit: '1234' -> '1 2 3 4' (non-digits are kept as spoken)."""
    return " ".join(ch for ch in value if not ch.isspace())


def phone_number(value: str) -> str:
    """A phone number as a caller in its country dials it, digit by digit in its groups:
    '+4930555010' -> '0 3 0, 5 5 5 0 1 0'. Read from E.164 the '+' and the country code would
    be said aloud ("plus 4 9 …"), which a caller at home neither dials nor expects. A number
    phonenumbers cannot place is read digit by digit, the '+' left out."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return digits("".join(ch for ch in value if ch.isdigit()))
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = ("".join(ch for ch in group if ch.isdigit()) for group in re.split(r"[^\d]+", national))
    return ", ".join(digits(group) for group in groups if group)


def last_digits(value: str, count: int = 4) -> str:
    """The last few digits of a tracking or card number, digit by digit."""
    kept = [ch for ch in value if ch.isalnum()]
    return digits("".join(kept[-count:]))


@cache
def _locale(tag: str) -> Locale:
    """'en-US' or 'en_US' -> Babel's locale; an unknown tag falls back to English, because a
    date must still be read out (the prompt file's language tag is checked elsewhere)."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, LookupError):
        return Locale.parse("en_US")


def _pattern(locale: Locale, skeleton: str, wide_weekday: bool) -> str:
    """The locale's own order and punctuation for a skeleton ('E, MMMM d' in English, 'E, d.
    MMMM' in German), with the weekday written out in full when asked ('EEEE')."""
    pattern = str(locale.datetime_skeletons[skeleton].pattern)
    return pattern.replace("E", "EEEE", 1).replace("EEEEEEE", "EEEE") if wide_weekday else pattern


def spoken_date(value: date, today: date | None = None, locale: str = "en-US") -> str:
    """'Friday, December 4'; the year is added only when it is not this year."""
    today = today or date.today()
    babel_locale = _locale(locale)
    spoken = _DAY_AND_DATE.get(babel_locale.language)
    if spoken is not None:
        skeleton = "MMMMd" if value.year == today.year else "yMMMMd"
        day = str(babel_locale.days["format"]["wide"][value.weekday()])
        on = format_date(value, _pattern(babel_locale, skeleton, wide_weekday=False), locale=babel_locale)
        return spoken.format(day=day, date=on)
    skeleton = "MMMMEd" if value.year == today.year else "yMMMMEd"
    return format_date(value, _pattern(babel_locale, skeleton, wide_weekday=True), locale=babel_locale)


def spoken_day(value: date, today: date | None = None, locale: str = "en-US") -> str:
    """A weekday's name alone, as it comes before a part of the day ("Tuesday" in "Tuesday
    morning"); prompts use it for days within the week ahead and `spoken_date` beyond."""
    return str(_locale(locale).days["format"]["wide"][value.weekday()])


def spoken_when(value: date, today: date | None = None, locale: str = "en-US") -> str:
    """A day as said in a sentence, relative to today: 'today', 'tomorrow', 'on Friday' (within
    the week ahead), else 'on December 4'; in the past 'yesterday', else 'on November 23'.

    A past weekday is never said alone: "on Friday" a week after it sounds like the next one.
    """
    today = today or date.today()
    babel_locale = _locale(locale)
    offset = (value - today).days
    relative = babel_locale._data["date_fields"]["day"]["relative"]  # CLDR: yesterday, today, tomorrow
    if offset in (-1, 0, 1) and offset in relative:
        return str(relative[offset])
    if 1 < offset <= WEEK_AHEAD:
        day = str(babel_locale.days["format"]["wide"][value.weekday()])
        return _ON_DAY.get(babel_locale.language, "{0}").format(day)
    skeleton = "MMMMd" if value.year == today.year else "yMMMMd"
    day = format_date(value, _pattern(babel_locale, skeleton, wide_weekday=False), locale=babel_locale)
    return _ON_DATE.get(babel_locale.language, "{0}").format(day)
