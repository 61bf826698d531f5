"""Prompt templates: `{name:format}` placeholders and `[optional segments]`.

Prompt texts live in `prompts/` and are edited by people who are not developers, so
the template language is deliberately tiny and safe: placeholders name call variables
(no attribute or index access), formats are a fixed list, and a segment in square
brackets is dropped when any variable inside it is empty ("[ and should arrive
{eta:when}]"), so one prompt covers both "we know the date" and "we don't". The `if`
format says nothing itself: "[{late:if}To speak with an agent about it, press 0.]" is
heard only when `late` is set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from ivr.speakable import digits, last_digits, phone_number, spoken_date, spoken_day, spoken_when

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?::([a-z0-9]+))?\}")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


FORMATS: dict[str, Callable[[str, date, str], str]] = {
    "text": lambda value, _, __: value,
    "digits": lambda value, _, __: digits(value),
    "last4": lambda value, _, __: last_digits(value),
    "phone": lambda value, _, __: phone_number(value),
    "first": lambda value, _, __: (value.split() or [""])[0],
    "date": lambda value, today, locale: spoken_date(date.fromisoformat(value), today, locale),
    "when": lambda value, today, locale: spoken_when(date.fromisoformat(value), today, locale),
    "day": lambda value, today, locale: spoken_day(date.fromisoformat(value), today, locale),
    "if": lambda _, __, ___: "",
}
"""The formats a prompt may use; anything else is refused when prompts load. Each gets the
value, today's date and the prompt file's language tag (e.g. `en-US`). `first` says a name's
first word: "Tack Erik." where Swedish thanks a caller by first name and English by the whole.
`phone` reads a phone number as it is dialled at home ("0 3 0, 5 5 5 0 1 0"), without the "+".
`day` names a day before a part of it: "{slot_day:day} morning" is "Tuesday morning"."""
DATE_FORMATS = frozenset({"date", "when", "day"})


class TemplateError(ValueError):
    """A prompt text that cannot be rendered (unknown format, unbalanced brackets)."""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed prompt text. Parse once at load, render on every turn."""

    source: str
    variables: frozenset[str] = field(init=False, compare=False, repr=False)
    """The placeholders' names (read for every state a call passes, so found once)."""
    _plain: str | None = field(init=False, compare=False, repr=False)
    """The text as said, for a prompt without placeholders or optional parts: most menus."""

    def __post_init__(self) -> None:
        stripped = _SEGMENT.sub("", self.source)
        if "[" in stripped or "]" in stripped:
            raise TemplateError("square brackets must come in pairs and cannot nest")
        for match in _PLACEHOLDER.finditer(self.source):
            fmt = match.group(2)
            if fmt and fmt not in FORMATS:
                raise TemplateError(
                    f"unknown format '{fmt}' in {match.group(0)}; use one of {', '.join(FORMATS)}"
                )
        leftover = _PLACEHOLDER.sub("", self.source)
        if "{" in leftover or "}" in leftover:
            raise TemplateError("a placeholder is malformed; write {name} or {name:format}")
        names = frozenset(m.group(1) for m in _PLACEHOLDER.finditer(self.source))
        object.__setattr__(self, "variables", names)
        plain = None if names or "[" in self.source else _tidy(self.source)
        object.__setattr__(self, "_plain", plain)

    @property
    def date_variables(self) -> frozenset[str]:
        """Variables read as dates (`date` or `when`): they must hold YYYY-MM-DD."""
        return frozenset(m.group(1) for m in _PLACEHOLDER.finditer(self.source) if m.group(2) in DATE_FORMATS)

    def render(self, values: Mapping[str, str], today: date | None = None, locale: str = "en-US") -> str:
        """Fill placeholders; drop optional segments whose variables are empty.

        `today` decides whether a date needs its year ("December 4" vs "..., 2027") and what
        "tomorrow" is; `locale` (a language tag) the words dates are said in.

        A required placeholder with no value renders empty rather than raising: a
        caller must hear the rest of the sentence, never an error.
        """
        if self._plain is not None:
            return self._plain

        def fill(match: re.Match[str]) -> str:
            value = values.get(match.group(1), "")
            if not value:
                return ""
            return FORMATS[match.group(2) or "text"](value, today or date.today(), locale)

        def segment(match: re.Match[str]) -> str:
            inner = match.group(1)
            names = [m.group(1) for m in _PLACEHOLDER.finditer(inner)]
            if any(not values.get(name) for name in names):
                return ""
            return inner

        return _tidy(_PLACEHOLDER.sub(fill, _SEGMENT.sub(segment, self.source)))


def _tidy(text: str) -> str:
    """One space between words and none before punctuation (where an empty value was left out)."""
    return re.sub(r"\s+([,.;?!])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
