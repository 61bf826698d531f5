"""The typed shape of a call flow, one dataclass per kind of state.

A flow file is checked against this schema before anything runs (see `loader.py`);
the engine only ever sees these validated objects, never raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class StateKind(StrEnum):
    SAY = "say"
    """Speak one or more prompts, then move on by itself."""
    MENU = "menu"
    """Offer choices by key or by word; wait for the caller."""
    GATHER = "gather"
    """Collect a number on the keypad (or spoken digits); wait for the caller."""
    ACTION = "action"
    """Run one of the service's own actions (a lookup) and branch on its outcome."""
    TRANSFER = "transfer"
    """Hand the caller to a person: the single seam for agent hand-off."""
    HANGUP = "hangup"
    """Say goodbye and end the call."""


@dataclass(frozen=True, slots=True)
class Retry:
    """What happens when a waiting state hears nothing or nothing it understands."""

    retries: int
    """Re-prompts after the first try before giving up."""
    no_input_prompt: str
    no_match_prompt: str
    on_failure: str
    """State to go to when the retries are used up on a no-match."""
    on_no_input: str
    """State to go to when the retries are used up on silence."""
    help_prompt: str = ""
    """Said instead of the question from the second miss on: what works here ("You can say
    'order status' or press 1"); empty: the question again."""
    wrong_key_prompt: str = ""
    """Said for a key the menu does not offer, with {key} ("5 isn't an option"); empty: no_match_prompt."""
    too_short_prompt: str = ""
    """Said for a number with too few digits, with {min_digits} and {max_digits}; empty: no_match_prompt."""


@dataclass(frozen=True, slots=True)
class StateBase:
    name: str
    line: int
    """Line of the state's name in the flow file, for messages."""


@dataclass(frozen=True, slots=True)
class SayState(StateBase):
    prompts: tuple[str, ...]
    next: str
    limit_visits: int | None = None
    """When the caller has come here this many times, go to `limit_goto` instead of `next`."""
    limit_goto: str | None = None
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class MenuOption:
    key: str
    """A single keypad key, 1-9, * or #; 0 is kept for 'agent'."""
    words: tuple[str, ...]
    """Spoken words and phrases that choose this option (also sent as recognition hints):
    for every language when the flow gives one list, else the first language's."""
    goto: str
    line: int
    words_by_language: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Language code → its words, when the flow gives them per language (`words: {en: […], de: […]}`)."""

    def words_in(self, language: str) -> tuple[str, ...]:
        """The words that choose this option in a call speaking `language`."""
        if not self.words_by_language:
            return self.words
        return self.words_by_language.get(language, ())


@dataclass(frozen=True, slots=True)
class Intent:
    """Something callers ask for in their own words, and the state that answers it."""

    name: str
    goto: str
    phrases: Mapping[str, tuple[str, ...]]
    """Phrases per language code ('en'): what callers say when they want this."""
    line: int


@dataclass(frozen=True, slots=True)
class MenuState(StateBase):
    prompts: tuple[str, ...]
    options: tuple[MenuOption, ...]
    retry: Retry
    timeout: int
    agent: bool
    """0 or 'agent' reaches the flow's agent state from here."""
    intents: tuple[Intent, ...] = ()
    """The flow's intents, when this menu takes requests in the caller's own words."""
    repeat: bool = False
    """`*` or "repeat" says again the answer that led here (or this menu's question)."""


@dataclass(frozen=True, slots=True)
class GatherState(StateBase):
    prompts: tuple[str, ...]
    save_as: str
    min_digits: int
    max_digits: int
    finish_on_key: str
    speech: bool
    """Also accept the digits spoken aloud."""
    next: str
    retry: Retry
    timeout: int
    agent: bool
    secret: bool = False
    """Keep what the caller keys out of the call record (a postal code used as a password)."""


@dataclass(frozen=True, slots=True)
class ActionState(StateBase):
    action: str
    outcomes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TransferState(StateBase):
    prompts: tuple[str, ...]
    reason: str
    """Why the caller is handed over, shown to the agent ('order_status', 'caller_asked')."""
    fallback: str
    """Where the call goes when nobody answers."""


@dataclass(frozen=True, slots=True)
class HangupState(StateBase):
    prompts: tuple[str, ...]
    outcome: str
    """How the call record files this ending ('resolved', 'no_input', ...)."""


State = SayState | MenuState | GatherState | ActionState | TransferState | HangupState
WaitingState = MenuState | GatherState


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    source: str
    start: str
    agent: str
    """The hand-off state reached by 0 / 'agent' and by default after repeated failures."""
    agent_words: tuple[str, ...]
    states: Mapping[str, State]
    intents: tuple[Intent, ...] = ()
    main_menu: str = ""
    """The menu that "main menu" or "go back" leads to from any question ('': none)."""
