"""Whether people are there to take a call, as the flow engine sees it.

The schedule itself (time zone, weekly hours, holidays, the emergency switch) lives in
`ivr.hours`, above the engine; the engine needs only this narrow view of it, once per
turn that mentions hours or hands a caller over: open or not, and the words for the hours.
Prompts read those words through placeholders (`{opening_hours}`, `{next_opening}`), so
the schedule is the one place hours are written and no prompt can contradict it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

OPENING_HOURS = "opening_hours"
"""Prompt placeholder: the weekly hours and time zone ("Monday to Friday, 8 AM to 6 PM (Eastern Time)")."""
NEXT_OPENING = "next_opening"
"""Prompt placeholder: "We open again tomorrow at 8 AM." while closed; empty while open."""
LINE_VARIABLES = frozenset({OPENING_HOURS, NEXT_OPENING})


@dataclass(frozen=True, slots=True)
class OpeningNow:
    open: bool
    """People are there now: a hand-off may say "please hold"."""
    hours: str
    """The weekly hours in words; empty when the line has no schedule (always open)."""
    next_opening: str = ""
    """When a closed line opens again, as a sentence; empty while open or when unknown."""

    def values(self) -> dict[str, str]:
        return {OPENING_HOURS: self.hours, NEXT_OPENING: self.next_opening}


class Opening(Protocol):
    async def now(self, locale: str = "") -> OpeningNow:
        """The line's state at this moment (may read the emergency switch from the database), its
        words in `locale` (a prompts file's language tag, 'de-DE'; empty: the line's own)."""
        ...

    def open_on(self, day: date) -> bool:
        """Whether people are there at some time on `day` (a date in the line's time zone)."""
        ...


class AlwaysOpen:
    """A line without a schedule: people are there whenever a call is handed over."""

    async def now(self, locale: str = "") -> OpeningNow:
        return OpeningNow(open=True, hours="")

    def open_on(self, day: date) -> bool:
        return True
