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
FIRST_DAY = date(1970, 1, 1)
"""The earliest day a period may start on: no call is older than the epoch."""
LAST_DAY = date.max - timedelta(days=2)
"""The latest day a period may end on: its end is the next local midnight, and in a zone
west of UTC that is the day after in UTC; one day more would be past `date.max`."""


def calendar_day(text: str) -> date:
    """A period's day from YYYY-MM-DD; `ValueError` (saying what is allowed) for anything
    that is not a date from `FIRST_DAY` to `LAST_DAY`."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a date, YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}")
    return day


def day_number(day: date) -> int:
    """A calendar day as days since 1970-01-01 (the roll-ups' `day`)."""
    return day.toordinal() - _EPOCH


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


@dataclass(frozen=True, slots=True)
class LocalHour:
    """A clock hour on the line's calendar."""

    label: str
    """Its start with the UTC offset, '2026-11-01T01:00-04:00': the night the clocks go back
    has two 01:00 hours, told apart by their offsets."""
    day: str
    """Its day, '2026-11-01'."""
    weekday: int
    """Monday 0 to Sunday 6."""
    hour: int
    """0 to 23 on the clock."""


class LocalTime:
    """UTC quarter hours as the line's clock hours, converted once each."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._quarters: dict[int, LocalHour] = {}
        self._hours: dict[int, LocalHour] = {}

    def hour(self, quarter: int) -> LocalHour:
        """The local clock hour a quarter hour (seconds since the epoch // 900) falls in."""
        found = self._quarters.get(quarter)
        if found is None:
            at = quarter * QUARTER
            start = at - datetime.fromtimestamp(at, self.zone).minute * 60
            found = self._hours.get(start)
            if found is None:
                local = datetime.fromtimestamp(start, self.zone)
                found = LocalHour(
                    local.isoformat(timespec="minutes"), local.date().isoformat(), local.weekday(), local.hour
                )
                self._hours[start] = found
            self._quarters[quarter] = found
        return found
