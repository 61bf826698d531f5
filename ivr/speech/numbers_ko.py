"""Korean numbers as callers read out order and ticket numbers: digit by digit, Sino-Korean.

Koreans read a phone, order or account number one Sino-Korean digit at a time ("사 오 일 이"
for 4512), with 공 or 영 for zero; that is all this reads. Whole numbers (사십오, "forty-five")
are not how such numbers are given, and are left out rather than half supported.
"""

from __future__ import annotations

from collections.abc import Mapping

DIGITS: Mapping[str, str] = {
    "공": "0",
    "영": "0",
    "일": "1",
    "이": "2",
    "삼": "3",
    "사": "4",
    "오": "5",
    "육": "6",
    "칠": "7",
    "팔": "8",
    "구": "9",
}
NUMBER_WORDS = frozenset(DIGITS)
"""Every word the keypad-by-voice grammar needs."""
KEY_WORDS: Mapping[str, str] = DIGITS
"""Keys named aloud: the digits (Korean callers rarely name star or pound)."""


def spoken_digits(text: str) -> str:
    """The digits in what a caller said, in order; '' if none (other words are skipped)."""
    return "".join(DIGITS.get(word, "") for word in text.split())
