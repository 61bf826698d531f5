"""Whether people are there to take a call, as the flow engine sees it.

The schedule itself (time zone, weekly hours, holidays, the emergency switch) lives in
`ivr.hours`, above the engine; the engine needs only this narrow view of it, once per
turn that mentions hours or hands a caller over: open or not, and the words for the hours.
Prompts read those words through placeholders (`{opening_hours}`, `{next_opening}`), so
the schedule is the one place hours are written and no prompt can contradict it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

OPENING_HOURS = "opening_hours"
"""Prompt placeholder: the weekly hours and time zone ("Monday to Friday, 8 AM to 6 PM (Eastern Time)")."""
NEXT_OPENING = "next_opening"
"""Prompt placeholder: "We open again tomorrow at 8 AM." while closed; empty while open."""
PICKUP_LOCATION = "pickup_location"
"""The called number's market's pickup place (`ivr.markets`), when the line has markets."""
PICKUP_HOURS = "pickup_hours"
"""That place's hours in words; without markets, the line's own hours."""
WARRANTY_RIGHTS = "warranty_rights"
"""The market's consumer-rights sentence the warranty answer begins with."""
RETURN_RIGHTS = "return_rights"
"""The market's consumer-rights sentence the returns answer begins with."""
PLAN_PRICES = {
    "basic_plan": "basic_plan_price",
    "premium_plan": "premium_plan_price",
    "repair": "repair_price",
}
"""A market's named prices → the placeholders that say them in its currency (`repair`: a
booked repair of a product out of warranty)."""
MARKET_VARIABLES = frozenset(
    {PICKUP_LOCATION, PICKUP_HOURS, WARRANTY_RIGHTS, RETURN_RIGHTS, *PLAN_PRICES.values()}
)
LINE_VARIABLES = frozenset({OPENING_HOURS, NEXT_OPENING, *MARKET_VARIABLES})
"""Values the line gives a call (not the call's own): read when a prompt mentions one."""


@dataclass(frozen=True, slots=True)
class OpeningNow:
    open: bool
    """People are there now: a hand-off may say "please hold"."""
    hours: str
    """The weekly hours in words; empty when the line has no schedule (always open)."""
    next_opening: str = ""
    """When a closed line opens again, as a sentence; empty while open or when unknown."""
    market: Mapping[str, str] = field(default_factory=dict)
    """The called number's market's values (`MARKET_VARIABLES`); empty without markets."""

    def values(self) -> dict[str, str]:
        return {
            PICKUP_HOURS: self.hours,
            **self.market,
            OPENING_HOURS: self.hours,
            NEXT_OPENING: self.next_opening,
        }


class Opening(Protocol):
    async def now(self, locale: str = "", called: str = "", caller: str = "") -> OpeningNow:
        """The line's state at this moment (may read the emergency switch from the database), its
        words in `locale` (a prompts file's language tag, 'de-DE'; empty: the line's own), for a
        call to `called` (whose market's hours apply) from `caller` (whose zone decides whether
        the hours name theirs)."""
        ...

    def open_on(self, day: date) -> bool:
        """Whether people are there at some time on `day` (a date in the line's time zone)."""
        ...


class AlwaysOpen:
    """A line without a schedule: people are there whenever a call is handed over."""

    async def now(self, locale: str = "", called: str = "", caller: str = "") -> OpeningNow:
        return OpeningNow(open=True, hours="")

    def open_on(self, day: date) -> bool:
        return True
