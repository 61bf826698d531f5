"""Numbers as callers say them, turned into the digits they mean.

Callers read order and ticket numbers in many ways: "four five one two", "forty-five
twelve", "four five one two" with "oh" for zero, "double five", "four hundred twelve",
often inside a sentence ("my order number is ..."). Everything that is not part of a
number is ignored, and little words that sound like digits ("to", "for", "oh") count
only between other number words, never in the sentence around them.
"""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
WEAK = {"oh": "0", "o": "0", "to": "2", "too": "2", "for": "4", "ate": "8", "won": "1"}
"""Words that are digits only next to other number words."""
REPEAT = {"double": 2, "triple": 3}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | {"hundred", "thousand"}
"""Every word the keypad-by-voice grammar needs (plus `WEAK` and `REPEAT`)."""


_TOKEN = re.compile(r"\d+|[a-z]+")


def spoken_digits(text: str) -> str:
    """The digits in what a caller said; '' if there are none."""
    tokens = [t for t in _TOKEN.findall(text.lower().replace("-", " ")) if t != "and"]
    strong = [_is_strong(t) for t in tokens]
    out: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in REPEAT and index + 1 < len(tokens) and (strong[index + 1] or tokens[index + 1] in WEAK):
            digit = _digit_word(tokens[index + 1])
            if digit is not None:
                out.append(digit * REPEAT[token])
                index += 2
                continue
        if strong[index]:
            group, index = _group(tokens, index)
            out.append(group)
            continue
        if token in WEAK and _between_numbers(tokens, strong, index):
            out.append(WEAK[token])
        index += 1
    return "".join(out)


def _is_strong(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS


def _digit_word(token: str) -> str | None:
    if token in UNITS:
        return str(UNITS[token])
    if token.isdigit() and len(token) == 1:
        return token
    return WEAK.get(token)


def _group(tokens: list[str], index: int) -> tuple[str, int]:
    """Read one spoken number starting at `index`: '45', '12', '400', '412', '2000' or a digit."""
    token = tokens[index]
    if token.isdigit():
        return token, index + 1
    if token in ("hundred", "thousand"):
        return "", index + 1  # a stray multiplier with nothing before it
    value = 0
    if token in TENS:
        value = TENS[token]
        index += 1
        if index < len(tokens) and tokens[index] in UNITS and tokens[index] != "zero":
            value += UNITS[tokens[index]]
            index += 1
        return str(value), index
    if token in TEENS:
        return str(TEENS[token]), index + 1
    value = UNITS[token]
    index += 1
    # "four hundred [and] twelve", "two thousand"
    if index < len(tokens) and tokens[index] in ("hundred", "thousand"):
        scale = 100 if tokens[index] == "hundred" else 1000
        value *= scale
        index += 1
        if index < len(tokens) and (
            tokens[index] in TENS or tokens[index] in TEENS or tokens[index] in UNITS
        ):
            rest, after = _group(tokens, index)
            if rest and int(rest) < scale:
                return str(value + int(rest)), after
        return str(value), index
    return str(value), index


def _between_numbers(tokens: list[str], strong: list[bool], index: int) -> bool:
    """True when the nearest non-weak words on both sides are number words ("four oh oh two")."""

    def nearest(step: int) -> bool:
        at = index + step
        while 0 <= at < len(tokens) and not strong[at] and tokens[at] in WEAK:
            at += step
        return 0 <= at < len(tokens) and strong[at]

    return nearest(-1) and nearest(1)
