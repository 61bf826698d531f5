"""The line's own days and hours, for figures that supervisors read in its time zone (pure).

Calls are counted per *local* day (the day number a call started on, in the line's zone,
when it is counted) and per UTC quarter of an hour (volume): every time zone in use is a
whole number of quarter hours from UTC, so quarter hours add up to local hours and days
exactly, summer time included, when they are converted at read time with `zoneinfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

QUARTER = 900
"""Seconds in the volume roll-up's step."""
_EPOCH = date(1970, 1, 1).toordinal()


def day_number(day: date) -> int:
    """A calendar day as days since 1970-01-01 (the roll-ups' `day`)."""
    return day.toordinal() - _EPOCH


def day_of(number: int) -> date:
    return date.fromordinal(number + _EPOCH)


def local_day(at: float, zone: tzinfo) -> int:
    """The day number of an instant (seconds since the epoch) in `zone`."""
    return day_number(datetime.fromtimestamp(at, zone).date())


def midnight(day: date, zone: tzinfo) -> float:
    """The instant a local day begins (its first moment if a clock change skips midnight)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


@dataclass(frozen=True, slots=True)
class LocalDays:
    """Local days from `since` up to and including `until`, as the roll-ups' keys."""

    since: date
    until: date

    def days(self) -> tuple[int, int]:
        """[first, end) day numbers."""
        return day_number(self.since), day_number(self.until) + 1

    def instants(self, zone: tzinfo) -> tuple[float, float]:
        """[start, end) in seconds since the epoch: the period's first and next midnights."""
        return midnight(self.since, zone), midnight(self.until + timedelta(days=1), zone)

    def quarters(self, zone: tzinfo) -> tuple[int, int]:
        start, end = self.instants(zone)
        return int(start // QUARTER), int(end // QUARTER)
