"""German numbers as callers say them ("fünfundvierzig zwölf", "vier fünf eins zwei", "null"),
read with `text2num` (its German grammar: compounds, "zwo", "und" inside numbers).

Only the digits count: the words around them ("meine Bestellnummer ist ...") are dropped.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

_RUN = re.compile(r"\d+")

UNITS = (
    "null",
    "eins",
    "ein",
    "eine",
    "zwei",
    "zwo",
    "drei",
    "vier",
    "fünf",
    "sechs",
    "sieben",
    "acht",
    "neun",
)
TEENS = (
    "zehn",
    "elf",
    "zwölf",
    "dreizehn",
    "vierzehn",
    "fünfzehn",
    "sechzehn",
    "siebzehn",
    "achtzehn",
    "neunzehn",
)
TENS = ("zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig")
NUMBER_WORDS = frozenset((*UNITS, *TEENS, *TENS, "hundert", "tausend", "und"))
"""The words a keypad-by-voice grammar offers. Compounds ("fünfundvierzig") are more than a
recogniser's word list holds; a recogniser returns them as their parts ("fünf und vierzig")."""


def spoken_digits(text: str) -> str:
    """The digits in what a German caller said; '' if there are none."""
    return "".join(_RUN.findall(alpha2digit(text.lower(), "de", threshold=0)))
