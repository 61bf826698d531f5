"""Business hours: when agents are there, and how to tell a caller in words.

Hours are local wall-clock times in one IANA time zone, because that is how a
business states them ("8 to 6, Monday to Friday") and how they stay right across
daylight-saving changes: 08:00 is 08:00 whether that is 07:00 or 06:00 UTC. A day's
ranges never cross midnight; a night shift is written as 22:00-24:00 on one day and
00:00-06:00 on the next. Holidays replace a weekday's ranges for one date. The
emergency switch is a plain field a supervisor flips at run time (storing it is the
caller's business); while it is on the line is closed and has no known reopening.

Everything here is pure: the only outside data read is the time zone database (and, in
`ScheduleOpening`, the emergency switch through the callable it is given).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import get_timezone_name

from ivr.config import zone_named
from ivr.flow.opening import OpeningNow
from ivr.speakable import spoken_date, spoken_when
from ivr.yamlsource import Document, SourceError

Path_ = tuple[str | int, ...]
Fail = Callable[[Path_, str], None]
"""Reports one problem at a path of the YAML document; the flow loader's `fail` fits."""

DAY_MINUTES = 24 * 60
LOOKAHEAD = timedelta(days=14)
"""How far `next_opening` looks; further than this a caller is better told the hours."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_KEYS = ("timezone", "weekly", "holidays")
_CLOSED = "closed"
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Open from `start` up to (not including) `end`, in minutes after local midnight."""

    start: int
    """0 (00:00) to 1439 (23:59)."""
    end: int
    """1 to 1440; 1440 is 24:00, the end of the day."""

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_MINUTES:
            raise ValueError(f"a span needs 0 <= start < end <= {DAY_MINUTES}, got {self.start}-{self.end}")

    def holds(self, second_of_day: float) -> bool:
        return self.start * 60 <= second_of_day < self.end * 60


Day = tuple[Span, ...]
"""A day's opening ranges, sorted and not overlapping; empty means closed all day."""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: ZoneInfo
    """Where the hours are kept; all ranges are wall-clock times there."""
    weekly: tuple[Day, Day, Day, Day, Day, Day, Day]
    """Monday first, as `date.weekday()` counts."""
    holidays: Mapping[date, Day] = field(default_factory=dict)
    """Dates whose ranges replace the weekday's; an empty Day is closed all day."""
    emergency_closed: bool = False
    """Flipped by a supervisor at run time: closed now, reopening unknown."""
    emergency_message: str | None = None
    """Prompt id explaining the emergency closure to callers, if the supervisor chose one."""

    def __post_init__(self) -> None:
        for day in (*self.weekly, *self.holidays.values()):
            if any(a.end > b.start for a, b in pairwise(day)) or list(day) != sorted(day):
                raise ValueError(f"ranges must be sorted and must not overlap: {day}")

    def day(self, on: date) -> Day:
        """The ranges that apply on a local date (a holiday's, else the weekday's)."""
        return self.holidays.get(on, self.weekly[on.weekday()])


def is_open(hours: BusinessHours, at: datetime) -> bool:
    """Whether the line is open at an instant (timezone-aware)."""
    if hours.emergency_closed:
        return False
    local = _local(hours, at)
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return any(span.holds(second) for span in hours.day(local.date()))


def next_opening(hours: BusinessHours, at: datetime) -> datetime | None:
    """The first instant at or after `at` when the line is open, within 14 days, in UTC.

    Returns `at` itself (in UTC) when the line is open then, and None during an emergency
    closure or when nothing opens within 14 days. An opening time skipped by a
    daylight-saving jump (02:30 on the night clocks go forward) opens at the jump; one
    that happens twice opens at the first. The answer is in UTC because Python compares
    local times in a repeated hour wrongly (same zone: by wall clock, ignoring `fold`;
    other zones: never equal, PEP 495); convert with `astimezone` to show it.
    """
    if hours.emergency_closed:
        return None
    start = _local(hours, at).astimezone(UTC)
    if is_open(hours, start):
        return start
    limit = start + LOOKAHEAD
    first_day = start.astimezone(hours.timezone).date()
    for offset in range(LOOKAHEAD.days + 1):
        day = first_day + timedelta(days=offset)
        found = [
            moment
            for span in hours.day(day)
            for moment in _instants(day, span.start, hours.timezone)
            if start <= moment <= limit and is_open(hours, moment)
        ]
        if found:
            return min(found)
    return None


def describe_week(hours: BusinessHours, locale: str = "en-US") -> str:
    """The weekly hours as a sentence: 'Monday to Friday, 8 AM to 6 PM; Saturday, 9 AM to 1 PM.'

    Neighbouring days with the same hours are named as one run; closed days are left
    out, as people say them. Holidays are not described (they are told on the day).
    German and Swedish say it their way: 'Montag bis Freitag von 8 bis 18 Uhr',
    'måndag till fredag mellan 8 och 18'.
    """
    wording = _WORDINGS.get(locale.replace("_", "-").split("-")[0])
    if wording is not None:
        return wording.week(hours)
    runs: list[tuple[int, int]] = []  # (first, last) weekday of each run of equal open days
    for index, day in enumerate(hours.weekly):
        if not day:
            continue
        if runs and runs[-1][1] == index - 1 and hours.weekly[runs[-1][0]] == day:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    if not runs:
        return "Closed every day."
    return (
        "; ".join(f"{_day_run(first, last)}, {_spoken_day(hours.weekly[first])}" for first, last in runs)
        + "."
    )


def describe_hours(hours: BusinessHours, locale: str = "en-US") -> str:
    """The weekly hours with their time zone, to go inside a sentence ("Our agents are available
    {opening_hours}."): 'Monday to Friday, 8 AM to 6 PM; Saturday, 9 AM to 1 PM (Eastern Time)'.

    The zone's name is CLDR's, in the line's language: callers in another zone can convert.
    """
    zone = get_timezone_name(hours.timezone, "long", zone_variant="generic", locale=locale.replace("-", "_"))
    return f"{describe_week(hours, locale).removesuffix('.')} ({zone})"


@dataclass(frozen=True, slots=True)
class ScheduleOpening:
    """The flow engine's view (`Opening`) of a schedule and the emergency switch.

    Without a schedule the line is open around the clock, except while the switch is on.
    """

    hours: BusinessHours | None
    emergency: Callable[[], Awaitable[bool]]
    """Reads the supervisor's emergency switch (from the database: every instance agrees)."""
    locale: str = "en-US"
    """The line's default language; a call in another says the hours in its own (`now(locale)`)."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def now(self, locale: str = "") -> OpeningNow:
        locale = locale or self.locale
        emergency = await self.emergency()
        text = describe_hours(self.hours, locale) if self.hours else ""
        if emergency:
            return OpeningNow(open=False, hours=text)
        at = self.clock()
        if self.hours is None or is_open(self.hours, at):
            return OpeningNow(open=True, hours=text)
        return OpeningNow(
            open=False, hours=text, next_opening=describe_next_opening(self.hours, at, locale) or ""
        )

    def open_on(self, day: date) -> bool:
        return self.hours is None or bool(self.hours.day(day))


def describe_next_opening(hours: BusinessHours, at: datetime, locale: str = "en-US") -> str | None:
    """'We open again tomorrow at 8 AM.' / '... on Monday at 8 AM.' for a caller reaching a closed line.

    'We are open now.' when open; None when there is no opening to promise
    (emergency closure, or nothing within 14 days), so the flow can say something else.
    German and Swedish: 'Wir sind morgen um 8 Uhr wieder für Sie da.', 'Vi öppnar igen i morgon
    klockan 8.'
    """
    wording = _WORDINGS.get(locale.replace("_", "-").split("-")[0])
    if is_open(hours, at):
        return wording.open_now if wording else "We are open now."
    opening = next_opening(hours, at)
    if opening is None:
        return None
    today = _local(hours, at).date()
    opening = opening.astimezone(hours.timezone)
    if wording is not None:
        day = spoken_when(opening.date(), today, locale)
        return wording.again.format(day=day, clock=wording.clock(opening.hour * 60 + opening.minute))
    clock = _spoken_clock(opening.hour * 60 + opening.minute)
    days = (opening.date() - today).days
    if days == 0:
        when = f"today at {clock}"
    elif days == 1:
        when = f"tomorrow at {clock}"
    elif days < 7:
        when = f"on {opening:%A} at {clock}"
    else:
        when = f"on {spoken_date(opening.date(), today)}, at {clock}"
    return f"We open again {when}."


class HoursInvalid(ValueError):
    """The hours have mistakes; every one is listed, each with its file and line."""

    def __init__(self, problems: list[SourceError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def parse_hours(raw: Any, doc: Document | None = None, path: Path_ = ()) -> BusinessHours:
    """Read an `hours:` mapping (timezone, weekly, holidays), refusing it whole on any mistake.

    `doc` and `path` (where `raw` sits in the document, e.g. ("settings", "hours"))
    are only used to put file and line on each problem.

    Raises:
        HoursInvalid: listing every problem found.
    """
    source = doc.source if doc else "hours"
    problems: list[SourceError] = []

    def fail(where: Path_, message: str) -> None:
        problems.append(SourceError(source, doc.line(where) if doc else None, message))

    hours = check_hours(raw, path, fail)
    if hours is None:
        raise HoursInvalid(problems)
    return hours


def check_hours(raw: Any, path: Path_, fail: Fail) -> BusinessHours | None:
    """Read an `hours:` mapping, reporting each problem through `fail`; None if there was any.

    This is the form a bigger validator (the flow loader) calls with its own `fail`,
    so problems in `settings: hours:` land in its one list.
    """
    count = 0

    def report(where: Path_, message: str) -> None:
        nonlocal count
        count += 1
        fail(where, message)

    if not isinstance(raw, Mapping):
        report(path, "'hours' must be a mapping with 'timezone', 'weekly' and 'holidays'")
        return None
    for key in sorted(set(raw) - set(_KEYS)):
        report((*path, key), f"unknown hours setting '{key}'; allowed: {', '.join(_KEYS)}")
    zone = _zone(raw.get("timezone"), (*path, "timezone"), report)
    weekly = _weekly(raw.get("weekly"), (*path, "weekly"), report)
    holidays = _holidays(raw.get("holidays") or {}, (*path, "holidays"), report)
    if count or zone is None or weekly is None:
        return None
    return BusinessHours(zone, weekly, holidays)


def _zone(value: Any, path: Path_, fail: Fail) -> ZoneInfo | None:
    if value is None:
        fail(path, "'timezone' is required, e.g. Europe/Berlin or America/New_York")
        return None
    if not isinstance(value, str) or not value:
        fail(path, "'timezone' must be a time zone name like Europe/Berlin")
        return None
    try:
        return zone_named(value)
    except (ZoneInfoNotFoundError, ValueError):
        fail(path, f"unknown time zone '{value}'; use a name like Europe/Berlin or America/New_York")
        return None


def _weekly(value: Any, path: Path_, fail: Fail) -> tuple[Day, Day, Day, Day, Day, Day, Day] | None:
    if not isinstance(value, Mapping):
        fail(path, "'weekly' must map each weekday (mon ... sun) to its hours or 'closed'")
        return None
    days: list[Day | None] = [None] * 7
    named_at: dict[int, str] = {}
    for key, hours in value.items():
        where = (*path, key)
        indexes = _weekday_keys(str(key))
        if indexes is None:
            fail(
                where,
                f"'{key}' is not a weekday; use {', '.join(WEEKDAYS)} or a run of them like mon-fri",
            )
            continue
        day = _day(hours, where, fail)
        for index in indexes:
            if index in named_at:
                fail(where, f"{_DAY_NAMES[index]} is given twice (also in '{named_at[index]}')")
                continue
            named_at[index] = str(key)
            days[index] = day
    missing = [WEEKDAYS[i] for i in range(7) if i not in named_at]
    if missing:
        fail(path, f"no hours for {', '.join(missing)}; write '<day>: closed' for a day without hours")
    if any(day is None for day in days):
        return None
    mon, tue, wed, thu, fri, sat, sun = (day or () for day in days)
    return mon, tue, wed, thu, fri, sat, sun


def _weekday_keys(key: str) -> list[int] | None:
    """'mon' -> [0]; 'mon-fri' -> [0, 1, 2, 3, 4]; None if not a weekday or run of weekdays."""
    names = key.strip().lower().split("-")
    if len(names) > 2 or any(name not in WEEKDAYS for name in names):
        return None
    start, end = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
    return list(range(start, end + 1)) if start <= end else None


def _holidays(value: Any, path: Path_, fail: Fail) -> dict[date, Day]:
    if not isinstance(value, Mapping):
        fail(path, "'holidays' must map dates (YYYY-MM-DD) to 'closed' or special hours")
        return {}
    out: dict[date, Day] = {}
    for key, hours in value.items():
        where = (*path, key)
        day = _day(hours, where, fail)
        try:
            on = date.fromisoformat(str(key))
        except ValueError:
            fail(where, f"'{key}' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-25")
            continue
        if day is not None:
            out[on] = day
    return out


def _day(value: Any, path: Path_, fail: Fail) -> Day | None:
    """'closed', 'HH:MM-HH:MM', 'HH:MM-HH:MM, HH:MM-HH:MM' or a list of ranges."""
    if isinstance(value, bool):
        fail(path, "write 'closed' or a time range like 08:00-18:00 (YAML reads bare no/off as false)")
        return None
    if isinstance(value, str) and value.strip().lower() == _CLOSED:
        return ()
    if isinstance(value, str):
        items: list[tuple[Any, Path_]] = [(part, path) for part in value.split(",")]
    elif isinstance(value, list) and value:
        items = [(item, (*path, index)) for index, item in enumerate(value)]
    else:
        fail(path, "write 'closed' or time ranges like 08:00-18:00 (several: a list, or comma-separated)")
        return None
    spans: list[Span] = []
    ok = True
    for item, where in items:
        span = _span(item, where, fail)
        ok = ok and span is not None
        if span is not None:
            spans.append(span)
    spans.sort()
    for a, b in pairwise(spans):
        if a.end > b.start:
            ok = False
            fail(
                path,
                f"ranges {_clock(a.start)}-{_clock(a.end)} and {_clock(b.start)}-{_clock(b.end)} overlap",
            )
    return tuple(spans) if ok else None


def _span(value: Any, path: Path_, fail: Fail) -> Span | None:
    match = _RANGE.match(value) if isinstance(value, str) else None
    if match is None:
        fail(path, f"'{value}' is not a time range like 08:00-18:00")
        return None
    start = _minutes(match[1], path, fail)
    end = _minutes(match[2], path, fail)
    if start is None or end is None:
        return None
    if start == DAY_MINUTES:
        fail(path, f"'{value}' starts at 24:00; start at 00:00 on the next day instead")
        return None
    if end <= start:
        fail(
            path,
            f"'{value}' ends before it starts; a range past midnight is two ranges, "
            "e.g. 22:00-24:00 and 00:00-06:00 on the next day",
        )
        return None
    return Span(start, end)


def _minutes(text: str, path: Path_, fail: Fail) -> int | None:
    """'08:30' -> 510; `text` already has the HH:MM shape (the range pattern checked it)."""
    hour, minute = (int(part) for part in text.split(":"))
    if minute > 59 or hour * 60 + minute > DAY_MINUTES:
        fail(path, f"'{text}' is not a time of day; use 00:00 to 23:59, or 24:00 for the end of the day")
        return None
    return hour * 60 + minute


def _local(hours: BusinessHours, at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business hours need a timezone-aware datetime")
    return at.astimezone(hours.timezone)


def _instants(day: date, minute: int, zone: ZoneInfo) -> list[datetime]:
    """Every instant (UTC) whose local wall clock first reads `minute` on `day`, in time order.

    Usually one; two when clocks go back over it; when clocks jump over it, the jump itself
    (the first instant the wall clock has passed that time).
    """
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:  # skipped by a forward jump
        # fold=1 reads the wall time with the later offset, landing before the jump;
        # fold=0 with the earlier one, landing after it. The jump is between, on a whole second.
        before, after = int(second.timestamp()), int(first.timestamp())
        while after - before > 1:
            middle = (before + after) // 2
            if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
                after = middle
            else:
                before = middle
        return [datetime.fromtimestamp(after, UTC)]
    return sorted({first, second})


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _spoken_clock(minute: int) -> str:
    """'8 AM', '8:30 PM', 'noon', 'midnight': how a person reads a time out."""
    if minute in (0, DAY_MINUTES):
        return "midnight"
    if minute == 12 * 60:
        return "noon"
    hour, rest = divmod(minute, 60)
    suffix = "AM" if hour < 12 else "PM"
    twelve = hour % 12 or 12
    return f"{twelve}:{rest:02d} {suffix}" if rest else f"{twelve} {suffix}"


def _spoken_day(day: Day) -> str:
    if day == (Span(0, DAY_MINUTES),):
        return "24 hours"
    parts = [f"{_spoken_clock(s.start)} to {_spoken_clock(s.end)}" for s in day]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _day_run(first: int, last: int) -> str:
    if first == last:
        return _DAY_NAMES[first]
    joiner = " and " if last == first + 1 else " to "
    return f"{_DAY_NAMES[first]}{joiner}{_DAY_NAMES[last]}"


def _german_clock(minute: int) -> str:
    """'8 Uhr', '8 Uhr 30': as a German voice reads a time."""
    hour, rest = divmod(minute, 60)
    return f"{hour} Uhr {rest}" if rest else f"{hour} Uhr"


def _swedish_clock(minute: int) -> str:
    """'8', '8:30' ("åtta trettio"): Swedish says the hour (24-hour clock) without o'clock."""
    hour, rest = divmod(minute, 60)
    return f"{hour}:{rest:02d}" if rest else str(hour)


@dataclass(frozen=True, slots=True)
class _Wording:
    """How one language says the week's hours; day names are CLDR's (Babel)."""

    locale: str
    span: Callable[[Span], str]
    """One opening span: 'von 8 bis 18 Uhr', 'mellan 8 och 18'."""
    days: tuple[str, str]
    """Joining a run of days: ('{0} bis {1}', '{0} und {1}')."""
    also: str
    """Between two spans of one day, and before the last run of days (the others take a comma)."""
    all_day: str
    closed: str
    open_now: str
    again: str
    """When a closed line opens: `{day}` as `spoken_when` says it, `{clock}` the time."""
    clock: Callable[[int], str]

    def week(self, hours: BusinessHours) -> str:
        names = Locale.parse(self.locale).days["format"]["wide"]
        runs: list[tuple[int, int]] = []
        for index, day in enumerate(hours.weekly):
            if day and runs and runs[-1][1] == index - 1 and hours.weekly[runs[-1][0]] == day:
                runs[-1] = (runs[-1][0], index)
            elif day:
                runs.append((index, index))
        if not runs:
            return self.closed
        said = []
        for first, last in runs:
            days = str(names[first])
            if last != first:
                days = self.days[0 if last > first + 1 else 1].format(days, names[last])
            spans = hours.weekly[first]
            text = self.all_day if spans == (Span(0, DAY_MINUTES),) else self.also.join(map(self.span, spans))
            said.append(f"{days} {text}")
        final = f"{said[-1]}."
        return f"{', '.join(said[:-1])}{self.also}{final}" if len(said) > 1 else final


def _german_span(span: Span) -> str:
    return f"von {_german_clock(span.start).removesuffix(' Uhr')} bis {_german_clock(span.end)}"


_WORDINGS: Mapping[str, _Wording] = {
    "de": _Wording(
        "de",
        _german_span,
        ("{0} bis {1}", "{0} und {1}"),
        " und ",
        "rund um die Uhr",
        "Wir sind zurzeit an keinem Tag erreichbar.",
        "Wir sind jetzt für Sie da.",
        "Wir sind {day} um {clock} wieder für Sie da.",
        _german_clock,
    ),
    "sv": _Wording(
        "sv",
        lambda span: f"mellan {_swedish_clock(span.start)} och {_swedish_clock(span.end)}",
        ("{0} till {1}", "{0} och {1}"),
        " och ",
        "dygnet runt",
        "Vi har stängt alla dagar just nu.",
        "Vi har öppet nu.",
        "Vi öppnar igen {day} klockan {clock}.",
        _swedish_clock,
    ),
}
"""German and Swedish; English (and a language not listed) is said as in `describe_week`."""
