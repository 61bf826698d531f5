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
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_WEAK_DIGIT_WORDS = {"oh": "0", "o": "0", "to": "2", "too": "2", "for": "4", "ate": "8"}
"""Words that are digits only between other digits ("four oh two"), never in a sentence
("I want to check order 1234" must not become 21234)."""
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
    tokens = _TOKEN.findall(text.lower())
    strong = [t if t.isdigit() else _DIGIT_WORDS.get(t) for t in tokens]
    out: list[str] = []
    for index, token in enumerate(tokens):
        digit = strong[index]
        if digit is not None:
            out.append(digit)
        elif token in _WEAK_DIGIT_WORDS and _between_digits(tokens, strong, index):
            out.append(_WEAK_DIGIT_WORDS[token])
    return "".join(out)


def _between_digits(tokens: list[str], strong: list[str | None], index: int) -> bool:
    """True when the nearest non-weak words on both sides are digits ("four oh oh two")."""

    def nearest(step: int) -> str | None:
        at = index + step
        while 0 <= at < len(tokens) and strong[at] is None and tokens[at] in _WEAK_DIGIT_WORDS:
            at += step
        return strong[at] if 0 <= at < len(tokens) else None

    return nearest(-1) is not None and nearest(1) is not None
