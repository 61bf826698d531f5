"""Turning data into words a caller can follow on the phone.

Numbers are read digit by digit ("1 2 3 4", never "one thousand two hundred ...")
and dates as words ("Friday, December 4"), because that is what a caller can write
down or check against a receipt. Both speech engines (Twilio `<Say>` and espeak-ng)
read space-separated digits one at a time.
"""

from __future__ import annotations

import re
from datetime import date

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "ate": "8",
    "nine": "9",
}
_TOKEN = re.compile(r"[a-z]+|\d")


def digits(value: str) -> str:
    """Read a number digit by digit: '1234' -> '1 2 3 4' (non-digits are kept as spoken)."""
    return " ".join(ch for ch in value if not ch.isspace())


def last_digits(value: str, count: int = 4) -> str:
    """The last few digits of a tracking or card number, digit by digit."""
    kept = [ch for ch in value if ch.isalnum()]
    return digits("".join(kept[-count:]))


def spoken_date(value: date, today: date | None = None) -> str:
    """'Friday, December 4'; the year is added only when it is not this year."""
    today = today or date.today()
    text = f"{value:%A}, {value:%B} {value.day}"
    if value.year != today.year:
        text += f", {value.year}"
    return text


def digits_from_speech(text: str) -> str:
    """Digits a caller said, for a keypad question answered by voice.

    Twilio's recogniser usually returns '1 2 3 4' or '1234', sometimes 'one two three'.
    Only single-digit words are read here; anything else in the sentence ("my order
    number is") is ignored. Full spoken-number parsing belongs to the local recogniser.
    """
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token.isdigit():
            out.append(token)
        elif token in _DIGIT_WORDS:
            out.append(_DIGIT_WORDS[token])
    return "".join(out)
