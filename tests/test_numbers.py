"""Spoken numbers become the digits the caller meant."""

from __future__ import annotations

import pytest

from ivr.speech.numbers import spoken_digits


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four five one two", "4512"),
        ("4 5 1 2", "4512"),
        ("4512", "4512"),
        ("forty-five twelve", "4512"),
        ("forty five twelve", "4512"),
        ("my order number is four five one two", "4512"),
        ("one oh two", "102"),
        ("four oh oh two", "4002"),
        ("double five seven", "557"),
        ("triple oh one", "0001"),
        ("four hundred twelve", "412"),
        ("four hundred and twelve", "412"),
        ("two thousand", "2000"),
        ("nineteen eighty four", "1984"),
        ("thirty", "30"),
        ("seventy zero", "700"),
        ("I want to check order 1234", "1234"),
        ("4512 for the order", "4512"),
        ("oh it's 4512", "4512"),
        ("it's for my mother", ""),
        ("I don't know", ""),
    ],
)
def test_spoken_numbers(said: str, digits: str) -> None:
    assert spoken_digits(said) == digits
