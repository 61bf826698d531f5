"""Swedish numbers as callers say them: "fyrtiofem tolv", "fyra fem ett två", "noll".

No library reads Swedish numbers, so this is a small one. Swedish writes a number as one
word ("fyrtiofem", "fyrahundratolv", "tvåtusen"), which is split into its parts; callers
also say numbers the everyday way: "förti", "femti", "tjugi", "tjuåtta" (28), "nie", "tie",
"fyr" (forms from Wiktionary's Appendix:Swedish numerals). "en" and "ett" are also the
articles ("ett ordernummer"), so they count only next to another number word.
"""

from __future__ import annotations

import re

UNITS = {
    "noll": 0,
    "ett": 1,
    "en": 1,
    "etta": 1,
    "två": 2,
    "tvåa": 2,
    "tre": 3,
    "trea": 3,
    "fyra": 4,
    "fyr": 4,
    "fem": 5,
    "femma": 5,
    "sex": 6,
    "sexa": 6,
    "sju": 7,
    "sjua": 7,
    "åtta": 8,
    "nio": 9,
    "nie": 9,
    "nia": 9,
    "nolla": 0,
}
TEENS = {
    "tio": 10,
    "tie": 10,
    "elva": 11,
    "tolv": 12,
    "tretton": 13,
    "fjorton": 14,
    "femton": 15,
    "sexton": 16,
    "sjutton": 17,
    "arton": 18,
    "nitton": 19,
}
TENS = {
    "tjugo": 20,
    "tjugi": 20,
    "tju": 20,
    "trettio": 30,
    "tretti": 30,
    "fyrtio": 40,
    "förtio": 40,
    "förti": 40,
    "femtio": 50,
    "femti": 50,
    "sextio": 60,
    "sexti": 60,
    "sjuttio": 70,
    "sjutti": 70,
    "åttio": 80,
    "åtti": 80,
    "nittio": 90,
    "nitti": 90,
}
SCALES = {"hundra": 100, "tusen": 1000}
WEAK = frozenset({"en", "ett"})
"""Digits only next to another number word: otherwise they are articles."""
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | frozenset(SCALES)
"""The words a keypad-by-voice grammar offers (compounds are read as their parts)."""


_MORPHEMES = sorted({**UNITS, **TEENS, **TENS, **SCALES}, key=len, reverse=True)
_TOKEN = re.compile(r"\d+|[^\W\d_]+")


def _split(word: str) -> list[str] | None:
    """A word as number parts ("fyrtiofem" → fyrtio, fem); None when it is not a number."""
    if not word:
        return []
    for part in _MORPHEMES:
        if word.startswith(part):
            rest = _split(word[len(part) :])
            if rest is not None:
                return [part, *rest]
    return None


def _value(parts: list[str]) -> int:
    """The number the parts of one word make: 'fyra hundra tolv' → 412, 'två tusen' → 2000."""
    total = current = 0
    for part in parts:
        if part in SCALES:
            scale = SCALES[part]
            if scale == 1000:
                total += (current or 1) * 1000
                current = 0
            else:
                current = (current or 1) * 100
        else:
            current += {**UNITS, **TEENS, **TENS}[part]
    return total + current


def spoken_digits(text: str) -> str:
    """The digits in what a Swedish caller said; '' if there are none."""
    tokens = _TOKEN.findall(text.lower().replace("-", " ").replace("ettusen", "etttusen"))
    parts = [None if t.isdigit() else _split(t) for t in tokens]
    numeric = [t.isdigit() or p is not None for t, p in zip(tokens, parts, strict=True)]
    out: list[str] = []
    index = 0
    while index < len(tokens):
        token, split = tokens[index], parts[index]
        if token.isdigit():
            out.append(token)
        elif split is not None:
            if token in WEAK and not _next_to_number(numeric, tokens, index):
                index += 1
                continue
            value = _value(split)
            following = parts[index + 1] if index + 1 < len(tokens) else None
            # "fyrtio fem" said as two words is 45, like "fyrtiofem"
            if token in TENS and following and len(following) == 1 and UNITS.get(following[0], 0):
                value += UNITS[following[0]]
                index += 1
            elif split[-1] == "tusen" and following and "tusen" not in following:
                value += _value(following)  # "ettusen niohundrasjuttiofem": 1975, one number
                index += 1
            out.append(str(value))
        index += 1
    return "".join(out)


def _next_to_number(numeric: list[bool], tokens: list[str], index: int) -> bool:
    """Whether a neighbouring word is a number word (not itself only an article)."""
    return any(
        0 <= at < len(tokens) and numeric[at] and tokens[at] not in WEAK for at in (index - 1, index + 1)
    )
