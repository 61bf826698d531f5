"""Numbers and keypad words per language: one table for the flow engine and the recogniser.

Each language has its own parser (`numbers` for English, `numbers_de` over
`text2num`, `numbers_sv` of our own, `numbers_ko` digit by digit); a language without one
reads digits as English does. The keys' names said aloud are each language's own words, in
`ivr.locales`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.locales import KEYPAD_WORDS
from ivr.speech import numbers, numbers_de, numbers_ko, numbers_sv


@dataclass(frozen=True, slots=True)
class NumberReading:
    """How one language's callers say numbers and keys."""

    spoken_digits: Callable[[str], str]
    """The digits in what a caller said; '' if none."""
    number_words: frozenset[str]
    """What a keypad-by-voice grammar offers."""
    key_words: Mapping[str, str]
    """Keypad keys named aloud, and the key each names."""


ENGLISH = NumberReading(
    numbers.spoken_digits,
    numbers.NUMBER_WORDS | frozenset(numbers.WEAK) | frozenset(numbers.REPEAT),
    KEYPAD_WORDS["en"],
)
READINGS: Mapping[str, NumberReading] = {
    "en": ENGLISH,
    "de": NumberReading(numbers_de.spoken_digits, numbers_de.NUMBER_WORDS, KEYPAD_WORDS["de"]),
    "sv": NumberReading(numbers_sv.spoken_digits, numbers_sv.NUMBER_WORDS, KEYPAD_WORDS["sv"]),
    "ko": NumberReading(numbers_ko.spoken_digits, numbers_ko.NUMBER_WORDS, numbers_ko.KEY_WORDS),
}


def reading(language: str) -> NumberReading:
    """The language's reading of numbers (English for one without its own)."""
    return READINGS.get(language, ENGLISH)
