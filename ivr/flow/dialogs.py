"""Side questions: what a call is asked outside its flow's own states.

The language choice and the survey after a resolved call are asked by the line, not by the
flow (a flow needs no state for them). Each is a small class the engine delegates to while
`CallSession.dialog` names it: it words the question, reads the answer and says when it is
done, and with what. It never runs the flow; the engine goes on from what it reports. So the
engine's own turn stays the flow's, and a side question is read and tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ivr.flow.steps import Step
from ivr.prompts import PromptCatalog
from ivr.session import CallSession

NEGATIVE = re.compile(r"(?:^|(?<=\s))[-\u2212\u2013]\s*\d|\b(?:minus|negative|negativ)\b", re.IGNORECASE)
"""A negative number said ("-1" as Twilio transcribes "minus one", "negative two"; German and
Swedish say "minus" too): no key makes one, and its digits alone read as a score of 1. A
dash between digits ("12345-6789") is no minus sign."""


@dataclass(frozen=True, slots=True)
class Asking:
    """What a side question needs of the call it is asked in."""

    session: CallSession
    language: str
    """The call's language now (the line's default while none is decided)."""
    catalog: PromptCatalog
    """That language's prompts: a prompts file may word a side question its own way."""
    today: date
    note: Callable[[str, str], None]
    """Add a transcript line: (who, text)."""

    def text(self, prompt_id: str, builtin: str, values: dict[str, str] | None = None) -> str:
        """A sentence in the call's language: its prompts file's wording, else the built-in."""
        if self.catalog.has(prompt_id):
            return self.catalog.render(prompt_id, values or {}, self.today)
        return builtin.format(**values) if values else builtin


@dataclass(frozen=True, slots=True)
class Reply:
    """A side question's answer to one caller event."""

    steps: list[Step] = field(default_factory=list)
    """What the caller hears now (the question again, a thank-you)."""
    done: bool = False
    """True: the side question is over (the engine goes on); False: it waits again."""
    language: str = ""
    """A language question's result: the language the call goes on in ('' for no change)."""
    said: str = ""
    """A request the caller made while answering, for the flow to take once the question is over."""
