"""Every word the line knows per language outside the prompts files: one module per language.

The words callers say (yes and no, asking for a person or the main menu, a language's name,
keys named aloud, filler that says nothing) and the few sentences the line needs when no
prompts file can help (the language choice, a fault's apology, the inbound survey) used to sit in the modules
that use them, German and Swedish beside the code. Here each language is one module with the
same names, so a native speaker reviews one file, and a fourth language is one new module
and one line in `LOCALES` (mypy checks each module against `Locale`). The code that uses the
words stays where it was and reads the mappings below: language code → that language's
words. Plain data, at the bottom of the layers: it imports nothing of the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ivr.locales import de, en, sv


class Locale(Protocol):
    """The names every language module defines (their meaning is documented in `ivr.locales.en`),
    read-only so that each module may give its tuples their own length."""

    @property
    def STEMMER(self) -> str: ...
    @property
    def FILLER(self) -> str: ...
    @property
    def REPEAT_WORDS(self) -> tuple[str, ...]: ...
    @property
    def POLITE_WORDS(self) -> tuple[str, ...]: ...
    @property
    def MAIN_MENU_WORDS(self) -> tuple[str, ...]: ...
    @property
    def YES_WORDS(self) -> tuple[str, ...]: ...
    @property
    def NO_WORDS(self) -> tuple[str, ...]: ...
    @property
    def AGENT_WORDS(self) -> tuple[str, ...]: ...
    @property
    def KEY_NAMES(self) -> dict[str, str]: ...
    @property
    def KEYPAD_WORDS(self) -> dict[str, str]: ...
    @property
    def LANGUAGE_NAMES(self) -> tuple[str, ...]: ...
    @property
    def CHOICE_TEXT(self) -> str: ...
    @property
    def OFFER_TEXT(self) -> str: ...
    @property
    def SWITCH_TEXT(self) -> str: ...
    @property
    def FAULT_APOLOGY(self) -> str: ...
    @property
    def FAULT_NOBODY_FREE(self) -> str: ...
    @property
    def FAULT_GOODBYE(self) -> str: ...
    @property
    def SURVEY_ASK(self) -> str: ...
    @property
    def SURVEY_NOT_A_SCORE(self) -> str: ...
    @property
    def SURVEY_THANKS(self) -> str: ...
    @property
    def ON_DAY(self) -> str: ...
    @property
    def ON_DATE(self) -> str: ...
    @property
    def DAY_AND_DATE(self) -> str | None: ...


LOCALES: Mapping[str, Locale] = {"en": en, "de": de, "sv": sv}
"""The languages with words of their own; a language not here takes English where it must."""

STEMMERS: Mapping[str, str] = {code: words.STEMMER for code, words in LOCALES.items()}
FILLER: Mapping[str, frozenset[str]] = {
    code: frozenset(words.FILLER.split()) for code, words in LOCALES.items()
}
REPEAT_WORDS: Mapping[str, tuple[str, ...]] = {code: words.REPEAT_WORDS for code, words in LOCALES.items()}
POLITE_WORDS = frozenset(word for words in LOCALES.values() for word in words.POLITE_WORDS)
"""Every language's at once: they are left out of an answer before it is compared."""
MAIN_MENU_WORDS: Mapping[str, tuple[str, ...]] = {
    code: words.MAIN_MENU_WORDS for code, words in LOCALES.items()
}
YES_WORDS: Mapping[str, tuple[str, ...]] = {code: words.YES_WORDS for code, words in LOCALES.items()}
NO_WORDS: Mapping[str, tuple[str, ...]] = {code: words.NO_WORDS for code, words in LOCALES.items()}
AGENT_WORDS: Mapping[str, tuple[str, ...]] = {code: words.AGENT_WORDS for code, words in LOCALES.items()}
KEY_NAMES: Mapping[str, Mapping[str, str]] = {code: words.KEY_NAMES for code, words in LOCALES.items()}
KEYPAD_WORDS: Mapping[str, Mapping[str, str]] = {code: words.KEYPAD_WORDS for code, words in LOCALES.items()}
LANGUAGE_NAMES: Mapping[str, tuple[str, ...]] = {
    code: words.LANGUAGE_NAMES for code, words in LOCALES.items()
}
CHOICE_TEXTS: Mapping[str, str] = {code: words.CHOICE_TEXT for code, words in LOCALES.items()}
SWITCH_TEXTS: Mapping[str, str] = {code: words.SWITCH_TEXT for code, words in LOCALES.items()}
OFFER_TEXTS: Mapping[str, str] = {code: words.OFFER_TEXT for code, words in LOCALES.items()}
ON_DAY: Mapping[str, str] = {code: words.ON_DAY for code, words in LOCALES.items()}
ON_DATE: Mapping[str, str] = {code: words.ON_DATE for code, words in LOCALES.items()}
DAY_AND_DATE: Mapping[str, str] = {
    code: words.DAY_AND_DATE for code, words in LOCALES.items() if words.DAY_AND_DATE is not None
}
SURVEY_ASK: Mapping[str, str] = {code: words.SURVEY_ASK for code, words in LOCALES.items()}
SURVEY_NOT_A_SCORE: Mapping[str, str] = {code: words.SURVEY_NOT_A_SCORE for code, words in LOCALES.items()}
SURVEY_THANKS: Mapping[str, str] = {code: words.SURVEY_THANKS for code, words in LOCALES.items()}
