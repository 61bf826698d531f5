"""Which language a call speaks, and the short choice that asks a caller.

One line serves several languages at once (IVR_LANGUAGES, the default first). A call's
language is, in this order: the called number's own (IVR_NUMBER_LANGUAGES); the only one
served; the caller's own, known from an earlier choice or from an order on file (greeted
in it, with a one-key way out, since a shared phone may have someone else on it); else the
caller chooses, each option spoken in its own language and voice, by key or by name.

Pure: the plan is data, the texts are built-ins that a prompts file may override with its
own `language_choice` / `language_switch` prompts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SWITCH_KEY = "*"
"""The key that reopens the language choice in any menu that has no option on it."""

CHOICE_TEXTS: Mapping[str, str] = {
    "en": "For English, say English or press {key}.",
    "de": "Für Deutsch sagen Sie Deutsch oder drücken Sie die {key}.",
    "sv": "För svenska, säg svenska eller tryck {key}.",
}
"""One option of the language choice, in its own language (`{key}` is its key). On a shared
number it follows the greeting; any sentence in a language chooses it too."""

OFFER_TEXTS: Mapping[str, str] = {
    "en": "Would you rather go on in English? Then say yes or press 1.",
    "de": "Möchten Sie lieber auf Deutsch weitermachen? Dann sagen Sie ja oder drücken Sie die 1.",
    "sv": "Vill du hellre fortsätta på svenska? Säg ja, eller tryck 1.",
}
"""Said, in that language, to a caller who speaks it on a number of another language."""

SWITCH_TEXTS: Mapping[str, str] = {
    "en": "For English, press star.",
    "de": "Für Deutsch drücken Sie die Sterntaste.",
    "sv": "För svenska, tryck stjärna.",
}
"""Said, in each other language, to a caller greeted in a remembered language."""

NAMES: Mapping[str, tuple[str, ...]] = {
    "en": ("english", "englisch", "engelska"),
    "de": ("deutsch", "german", "tyska", "tysk"),
    "sv": ("svenska", "swedish", "schwedisch", "svensk"),
}
"""What a caller may say to choose a language: its own name for it, and its name in the others."""

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class LanguagePlan:
    """The languages a line serves and how a call's language is decided."""

    served: tuple[str, ...] = ("en",)
    """The default first."""
    by_number: Mapping[str, str] = field(default_factory=dict)
    """Called number (E.164) → its language."""

    @property
    def default(self) -> str:
        return self.served[0]

    @property
    def several(self) -> bool:
        return len(self.served) > 1

    def for_number(self, called: str) -> str | None:
        """The language of the number the caller dialled; None: a shared number."""
        return self.by_number.get(called) if self.several else self.default

    def key_of(self, language: str) -> str:
        """The language choice's key for a language: 1 for the default, then in order."""
        return str(self.served.index(language) + 1)

    def chosen(self, *, key: str = "", said: str = "") -> str | None:
        """The language a caller's answer to the choice picks: a key, or its name said aloud."""
        if key:
            index = int(key) - 1 if key.isdigit() else -1
            return self.served[index] if 0 <= index < len(self.served) else None
        words = set(_WORDS.findall(said.lower()))
        picked = [code for code in self.served if words & set(NAMES.get(code, (code,)))]
        return picked[0] if len(picked) == 1 else None

    def hints(self) -> tuple[str, ...]:
        """Recognition hints for the choice: each language's own name for itself first."""
        return tuple(NAMES.get(code, (code,))[0] for code in self.served)


AGENT_WORDS: Mapping[str, tuple[str, ...]] = {
    "de": ("mitarbeiter", "mitarbeiterin", "jemanden sprechen", "mensch", "berater", "beraterin"),
    "sv": ("handläggare", "prata med någon", "en människa", "person", "kundtjänst"),
}
"""Built-in ways to ask for a person, besides the flow's `agent_words` (which hold in every
language): a German or Swedish caller reaches someone even before the flow lists its own."""


@dataclass(frozen=True, slots=True)
class FaultWords:
    """What the line says around a fault of its own, in one language. The apology itself is
    each prompts file's `system_error` (a supervisor may word it); these are its fallbacks and
    the words after it, which must work when nothing else does."""

    apology: str
    """Said when a prompts file has no `system_error` of its own."""
    nobody_free: str
    """The hand-off after a fault reached nobody."""
    goodbye: str
    """A webhook for a call that is already over."""


FAULT_WORDS: Mapping[str, FaultWords] = {
    "en": FaultWords(
        apology="I'm sorry, something went wrong on our side. Let me connect you with an agent.",
        nobody_free="I'm sorry, nobody is free to take your call right now. Please call back later. Goodbye.",
        goodbye="Goodbye.",
    ),
    "de": FaultWords(
        apology="Entschuldigung, bei uns ist ein Fehler aufgetreten. Ich verbinde Sie mit einem Mitarbeiter.",
        nobody_free=(
            "Leider kann gerade niemand Ihren Anruf annehmen. Bitte rufen Sie später wieder an. "
            "Auf Wiederhören."
        ),
        goodbye="Auf Wiederhören.",
    ),
    "sv": FaultWords(
        apology="Förlåt, något gick fel hos oss. Jag kopplar dig till en medarbetare.",
        nobody_free="Tyvärr kan ingen ta ditt samtal just nu. Ring gärna igen senare. Hej då.",
        goodbye="Hej då.",
    ),
}
"""A language without its own set hears English."""


def fault_words(language: str) -> FaultWords:
    return FAULT_WORDS.get(language, FAULT_WORDS["en"])
