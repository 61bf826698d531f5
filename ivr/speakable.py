"""Turning data into words a caller can follow on the phone.

Numbers are read digit by digit ("1 2 3 4", never "one thousand two hundred ...")
and dates as words ("Friday, December 4"), because that is what a caller can write
down or check against a receipt. Both speech engines (Twilio `<Say>` and espeak-ng)
read space-separated digits one at a time.
"""

from __future__ import annotations

from datetime import date


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
