"""Troubleshooting guides: short steps per product and symptom, in every language the line speaks.

A guide is data a supervisor writes (`guides/*.yaml`), not flow states: the flow has one set of
guide states (find a guide, say a step, ask "Did that help?") and the guide supplies the words.
So a new guide needs no change to the flow, and its steps are checked here the way a flow is:
every problem in every file is reported with its file and line, and a set of files with one
mistake is refused whole, so a call never runs half a guide.

Callers name a guide in their own words ("my dishwasher shows E15", "die Waschmaschine pumpt
nicht ab"): an error code said in any of the ways people say one ("E15", "E 1 5", "error
fifteen", "Fehler E15", "felkod E15") picks the guide that lists it; otherwise the product's
words and the symptom's words do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.speech.number_words import reading
from ivr.yamlsource import Document, SourceError, load_file, load_text

MAX_STEPS = 12
"""A guide longer than this is a manual, not a phone call: better sent as a link."""
MAX_STEP_CHARS = 400
"""One step is said in one breath or two; a longer one is lost before its end."""
LONG_GUIDE_STEPS = 5
"""A guide of at least this many steps is offered as a text first (the caller may prefer to
read it at the machine)."""
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CODE = re.compile(r"([a-z]{0,3})(\d{1,4})")
_TOKENS = re.compile(r"[^\W_]+")
_CODE_WORDS = frozenset(
    {
        "e",
        "f",
        "error",
        "err",
        "code",
        "fault",
        "fehler",
        "fehlercode",
        "fehlermeldung",
        "felkod",
        "fel",
        "kod",
    }
)
"""Words a caller says before an error code's number ("error 15", "Fehler 15", "felkod 15")."""
_NUMBER_WORD_LIMIT = 4
"""Words after the code word read as its number ("one five", "fünf zehn")."""
_LANGUAGE = re.compile(r"[a-z]{2,3}")
"""A key naming a language (en, de, sv): its text, checked even where the line does not speak it."""
_LANGUAGE_KEYS = frozenset({"title", "product", "symptom", "steps"})
_GUIDE_KEYS = frozenset({"guide", "error_codes"})


@dataclass(frozen=True, slots=True)
class GuideText:
    """A guide in one language."""

    title: str
    """What the guide is about, as said in a sentence ("error E15 on your dishwasher")."""
    product: tuple[str, ...]
    """Words that name the product ("dishwasher", "Geschirrspüler"), lower case."""
    symptom: tuple[str, ...]
    """Words that name the problem ("water in the base", "won't drain"), lower case."""
    steps: tuple[str, ...]
    """The steps, each said and then asked about."""


@dataclass(frozen=True, slots=True)
class Guide:
    name: str
    """Stable id ("dishwasher-e15"): in call records, the insights and the text's link."""
    source: str
    error_codes: tuple[str, ...]
    """Codes the product shows for this problem, upper case ("E15")."""
    texts: Mapping[str, GuideText]
    """Language code → the guide in that language; every served language has one."""

    def text(self, language: str) -> GuideText:
        """The guide in `language`; '' (the line's default) and others read the first given,
        which is the line's default language (`load_guides` checks them in that order)."""
        return self.texts.get(language) or next(iter(self.texts.values()))


class GuidesInvalid(ValueError):
    """Guide files with mistakes; none of them is used."""

    def __init__(self, problems: Sequence[SourceError]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def error_code(text: str, language: str) -> str:
    """The error code a caller names, as letters and digits ("E15", or "15" with no letter
    said), or '' when none is named."""
    tokens = _TOKENS.findall(text.lower())
    numbers = reading(language)
    for index, token in enumerate(tokens):
        glued = _CODE.fullmatch(token)
        if glued and glued.group(1) and glued.group(1) in _CODE_WORDS | {"e", "f"}:
            return glued.group(1).upper() + glued.group(2)  # "e15", "f05"
        if token not in _CODE_WORDS:
            continue
        letter = token.upper() if len(token) == 1 else ""
        rest = tokens[index + 1 : index + 1 + _NUMBER_WORD_LIMIT]
        if rest and not letter and len(rest[0]) == 1 and rest[0] in ("e", "f"):
            letter, rest = rest[0].upper(), rest[1:]  # "error E 15", "Fehler E fünfzehn"
        elif rest and not letter and (glued := _CODE.fullmatch(rest[0])) and glued.group(1):
            return glued.group(1).upper() + glued.group(2)  # "Fehler E15", "felkod E15"
        said: list[str] = []
        for word in rest:
            if not (word.isdigit() or numbers.spoken_digits(word)):
                break
            said.append(word)
        digits = numbers.spoken_digits(" ".join(said)) if said else ""
        if digits:
            return letter + digits
    return ""


def _same_code(said: str, listed: str) -> bool:
    """ "E15" names E15; "15" (the letter not said) names it too."""
    said_match, listed_match = _CODE.fullmatch(said.lower()), _CODE.fullmatch(listed.lower())
    if said_match is None or listed_match is None:
        return False
    letters_agree = not said_match.group(1) or said_match.group(1) == listed_match.group(1)
    return letters_agree and int(said_match.group(2)) == int(listed_match.group(2))


def _mentions(text: str, phrases: Sequence[str]) -> int:
    """How many of the phrases the text says, each from the start of a word ("dishwasher"
    counts in "dishwashers", "spülmaschine" not in "geschirrspülmaschine": list both)."""
    padded = " " + " ".join(_TOKENS.findall(text.lower())) + " "
    return sum(1 for phrase in phrases if " " + " ".join(_TOKENS.findall(phrase)) in padded)


@dataclass(frozen=True, slots=True)
class GuideBook:
    """The guides the line runs, in file order."""

    guides: tuple[Guide, ...] = ()
    default: str = "en"
    """The line's default language: what a call speaking '' (the default) reads."""

    def get(self, name: str) -> Guide | None:
        return next((g for g in self.guides if g.name == name), None)

    def find(self, text: str, language: str) -> Guide | None:
        """The guide the caller's words name, or None. An error code a guide lists wins (when a
        product is named too, it must be that guide's); else the product's and the symptom's
        words, a product alone choosing its first guide, a symptom alone only when one guide has it."""
        language = language or self.default
        code = error_code(text, language)
        named = [g for g in self.guides if _mentions(text, g.text(language).product)]
        coded = [g for g in self.guides if code and any(_same_code(code, c) for c in g.error_codes)]
        if coded:
            narrowed = [g for g in coded if g in named] if named else coded
            return narrowed[0] if narrowed else None  # E15 on a coffee machine: no guide knows it
        scored = [(_mentions(text, g.text(language).symptom), g) for g in named or self.guides]
        best = max((score for score, _ in scored), default=0)
        if best:
            winners = [g for score, g in scored if score == best]
            if named or len(winners) == 1:
                return winners[0]
            return None
        return named[0] if named else None


def load_guides(directory: Path, languages: Sequence[str]) -> GuideBook:
    """Every `*.yaml` in `directory`, checked; `GuidesInvalid` names every mistake. A missing
    directory is a line without guides. `languages` are the line's, its default first."""
    if not directory.is_dir():
        return GuideBook(default=languages[0] if languages else "en")
    problems: list[SourceError] = []
    documents: list[Document] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents.append(load_file(path))
        except SourceError as exc:
            problems.append(exc)
    return _book(documents, languages, problems)


def parse_guides(texts: Mapping[str, str], languages: Sequence[str]) -> GuideBook:
    """Guide files' text by their source name (as a version holds them), checked together."""
    problems: list[SourceError] = []
    documents: list[Document] = []
    for source, text in texts.items():
        try:
            documents.append(load_text(text, source))
        except SourceError as exc:
            problems.append(exc)
    return _book(documents, languages, problems)


def check_guide_text(text: str, source: str, languages: Sequence[str]) -> Guide:
    """One guide file's text as an editor holds it; `GuidesInvalid` names every mistake."""
    try:
        document = load_text(text, source)
    except SourceError as exc:
        raise GuidesInvalid([exc]) from None
    return _book([document], languages, []).guides[0]


def _book(documents: Sequence[Document], languages: Sequence[str], problems: list[SourceError]) -> GuideBook:
    guides: list[Guide] = []
    seen: dict[str, str] = {}
    for doc in documents:
        guide = _guide(doc, languages, problems)
        if guide is None:
            continue
        if guide.name in seen:
            problems.append(doc.error(("guide",), f"guide '{guide.name}' is also in {seen[guide.name]}"))
            continue
        seen[guide.name] = doc.source
        guides.append(guide)
    if problems:
        raise GuidesInvalid(problems)
    return GuideBook(tuple(guides), languages[0] if languages else "en")


def _guide(doc: Document, languages: Sequence[str], problems: list[SourceError]) -> Guide | None:
    data = doc.data
    if not isinstance(data, dict):
        problems.append(
            doc.error((), "a guide file is a mapping: 'guide', 'error_codes', then one per language")
        )
        return None
    before = len(problems)
    for key in sorted(set(data) - _GUIDE_KEYS - set(languages)):
        if not _LANGUAGE.fullmatch(key):
            message = f"'{key}' is not a setting of a guide (nor a language code such as en)"
            problems.append(doc.error((key,), message))
    name = data.get("guide")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(
            doc.error(("guide",), "'guide' is the guide's id: lower-case letters, digits, '-' or '_'")
        )
        name = ""
    codes = data.get("error_codes", [])
    if not isinstance(codes, list) or not all(
        isinstance(c, str) and _CODE.fullmatch(c.lower()) for c in codes
    ):
        problems.append(doc.error(("error_codes",), "'error_codes' is a list of codes such as E15 or F05"))
        codes = []
    texts: dict[str, GuideText] = {}
    for code in languages:
        if code not in data:
            problems.append(doc.error((), f"the guide has no text in language '{code}'; add '{code}:'"))
    others = sorted(key for key in data if _LANGUAGE.fullmatch(key) and key not in languages)
    for code in [c for c in languages if c in data] + others:  # a language not served is checked too
        text = _language(doc, code, data[code], problems)
        if text is not None:
            texts[code] = text
    if len(problems) > before:
        return None
    return Guide(name, doc.source, tuple(c.upper() for c in codes), texts)


def _language(doc: Document, code: str, raw: Any, problems: list[SourceError]) -> GuideText | None:
    if not isinstance(raw, dict):
        problems.append(doc.error((code,), f"'{code}' holds title, product, symptom and steps"))
        return None
    for key in sorted(set(raw) - _LANGUAGE_KEYS):
        problems.append(doc.error((code, key), f"'{key}' is not part of a guide's text"))
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(doc.error((code, "title"), "'title' says what the guide is about, in a few words"))
        title = ""
    words = {key: _words(doc, code, key, raw.get(key), problems) for key in ("product", "symptom")}
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append(doc.error((code, "steps"), "'steps' is a list of the steps, in order"))
        steps = []
    elif len(steps) > MAX_STEPS:
        message = f"{len(steps)} steps; a guide on the phone has at most {MAX_STEPS}"
        problems.append(doc.error((code, "steps"), message))
    for index, step in enumerate(steps):
        if not isinstance(step, str) or not step.strip():
            problems.append(doc.error((code, "steps", index), "a step is a sentence or two of text"))
        elif len(step) > MAX_STEP_CHARS:
            message = f"this step has {len(step)} characters; split it (at most {MAX_STEP_CHARS})"
            problems.append(doc.error((code, "steps", index), message))
        elif "{" in step or "}" in step:
            problems.append(doc.error((code, "steps", index), "a step is said as written: no { or }"))
    return GuideText(
        title.strip(),
        words["product"],
        words["symptom"],
        tuple(" ".join(s.split()) for s in steps if isinstance(s, str)),
    )


def _words(doc: Document, code: str, key: str, raw: Any, problems: list[SourceError]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(w, str) and w.strip() for w in raw):
        problems.append(doc.error((code, key), f"'{key}' is a list of words callers say for it"))
        return ()
    return tuple(w.strip().lower() for w in raw)
