"""Business hours: open or closed at the edges, the next opening, DST, and every parse mistake."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.hours import (
    BusinessHours,
    HoursInvalid,
    Span,
    check_hours,
    describe_next_opening,
    describe_week,
    is_open,
    next_opening,
    parse_hours,
)
from ivr.yamlsource import load_text

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

SHOP = """\
hours:
  timezone: Europe/Berlin
  weekly:
    mon-fri: "08:00-18:00"
    sat: "09:00-13:00"
    sun: closed
  holidays:
    "2026-12-25": closed
    2026-12-24: "08:00-12:00"
"""


def load(text: str) -> BusinessHours:
    doc = load_text(textwrap.dedent(text), "flow.yaml")
    return parse_hours(doc.data["hours"], doc, ("hours",))


def problems(text: str) -> list[str]:
    with pytest.raises(HoursInvalid) as caught:
        load(text)
    return str(caught.value).splitlines()


def one_day(zone: ZoneInfo, **days: tuple[Span, ...]) -> BusinessHours:
    """Hours open only on the named weekdays (mon=..., sun=...)."""
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    mon, tue, wed, thu, fri, sat, sun = (days.get(name, ()) for name in names)
    return BusinessHours(zone, (mon, tue, wed, thu, fri, sat, sun))


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


@pytest.fixture
def shop() -> BusinessHours:
    return load(SHOP)


def test_open_from_the_first_second_to_just_before_closing(shop: BusinessHours) -> None:
    monday = (2026, 11, 23)
    assert not is_open(shop, berlin(*monday, 7, 59, 59))
    assert is_open(shop, berlin(*monday, 8, 0))
    assert is_open(shop, berlin(*monday, 17, 59, 59))
    assert not is_open(shop, berlin(*monday, 18, 0))
    assert is_open(shop, berlin(2026, 11, 28, 12, 59))  # Saturday
    assert not is_open(shop, berlin(2026, 11, 28, 13, 0))
    assert not is_open(shop, berlin(2026, 11, 29, 12, 0))  # Sunday


def test_any_time_zone_of_the_question_is_read_as_local_time(shop: BusinessHours) -> None:
    # 07:30 UTC on a November Monday is 08:30 in Berlin; 07:30 New York time is 13:30.
    assert is_open(shop, datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    assert not is_open(shop, datetime(2026, 11, 23, 6, 30, tzinfo=UTC))
    assert is_open(shop, datetime(2026, 11, 23, 7, 30, tzinfo=NEW_YORK))


def test_a_time_without_zone_is_refused(shop: BusinessHours) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(shop, datetime(2026, 11, 23, 9, 0))


def test_holidays_close_all_day_or_keep_special_hours(shop: BusinessHours) -> None:
    assert not is_open(shop, berlin(2026, 12, 25, 10, 0))  # a Friday, closed for Christmas
    assert is_open(shop, berlin(2026, 12, 24, 11, 59))  # Christmas Eve closes at noon
    assert not is_open(shop, berlin(2026, 12, 24, 12, 0))
    assert next_opening(shop, berlin(2026, 12, 24, 12, 0)) == berlin(2026, 12, 26, 9, 0)
    assert describe_next_opening(shop, berlin(2026, 12, 24, 12, 0)) == "We open again on Saturday at 9 AM."


def test_next_opening_across_the_weekend(shop: BusinessHours) -> None:
    saturday_afternoon = berlin(2026, 11, 28, 14, 0)
    assert next_opening(shop, saturday_afternoon) == berlin(2026, 11, 30, 8, 0)
    assert describe_next_opening(shop, saturday_afternoon) == "We open again on Monday at 8 AM."
    assert describe_next_opening(shop, berlin(2026, 11, 29, 20, 0)) == "We open again tomorrow at 8 AM."
    assert describe_next_opening(shop, berlin(2026, 11, 30, 6, 0)) == "We open again today at 8 AM."
    assert describe_next_opening(shop, berlin(2026, 11, 27, 18, 0)) == "We open again tomorrow at 9 AM."


def test_when_open_the_next_opening_is_now(shop: BusinessHours) -> None:
    now = berlin(2026, 11, 23, 10, 15)
    assert next_opening(shop, now) == now
    assert describe_next_opening(shop, now) == "We are open now."


def test_an_opening_more_than_a_week_away_is_told_with_its_date() -> None:
    hours = replace(
        one_day(BERLIN, mon=(Span(480, 720),)),
        holidays={datetime(2026, 11, 30).date(): ()},
    )
    at = berlin(2026, 11, 23, 13, 0)
    assert next_opening(hours, at) == berlin(2026, 12, 7, 8, 0)
    assert describe_next_opening(hours, at) == "We open again on Monday, December 7, at 8 AM."
    new_year = replace(hours, holidays={})
    assert describe_next_opening(new_year, berlin(2026, 12, 28, 13, 0)) == (
        "We open again on Monday, January 4, 2027, at 8 AM."
    )


def test_no_opening_within_fourteen_days_is_none() -> None:
    monday = datetime(2026, 11, 23).date()
    hours = replace(
        one_day(BERLIN, mon=(Span(480, 720),)),
        holidays={monday + timedelta(days=7 * n): () for n in range(3)},
    )
    assert next_opening(hours, berlin(2026, 11, 23, 7, 0)) is None
    assert describe_next_opening(hours, berlin(2026, 11, 23, 7, 0)) is None
    # From a day after the last closed Monday, the next one is within reach again.
    assert next_opening(hours, berlin(2026, 12, 1, 7, 0)) == berlin(2026, 12, 14, 8, 0)
    assert next_opening(one_day(BERLIN), berlin(2026, 11, 23, 7, 0)) is None


def test_emergency_closure_closes_now_and_promises_no_reopening(shop: BusinessHours) -> None:
    closed = replace(shop, emergency_closed=True, emergency_message="closed_storm")
    now = berlin(2026, 11, 23, 10, 0)
    assert is_open(shop, now)
    assert not is_open(closed, now)
    assert next_opening(closed, now) is None
    assert describe_next_opening(closed, now) is None
    assert closed.emergency_message == "closed_storm"
    assert is_open(replace(closed, emergency_closed=False), now)


def test_ranges_meet_across_midnight() -> None:
    night = one_day(BERLIN, fri=(Span(20 * 60, 24 * 60),), sat=(Span(0, 2 * 60),))
    assert is_open(night, berlin(2026, 11, 27, 23, 59, 59))
    assert is_open(night, berlin(2026, 11, 28, 0, 0))
    assert is_open(night, berlin(2026, 11, 28, 1, 59, 59))
    assert not is_open(night, berlin(2026, 11, 28, 2, 0))
    assert not is_open(night, berlin(2026, 11, 27, 19, 59))
    midnight = one_day(BERLIN, mon=(Span(0, 60),))
    assert next_opening(midnight, berlin(2026, 11, 29, 23, 0)) == berlin(2026, 11, 30, 0, 0)
    assert describe_next_opening(midnight, berlin(2026, 11, 29, 23, 0)) == (
        "We open again tomorrow at midnight."
    )


def test_monday_opening_after_clocks_go_forward_is_an_hour_earlier_in_utc(shop: BusinessHours) -> None:
    # Berlin moves to summer time on Sunday 2026-03-29: 08:00 is 07:00 UTC before, 06:00 UTC after.
    friday = next_opening(shop, berlin(2026, 3, 26, 19, 0))
    monday = next_opening(shop, berlin(2026, 3, 28, 14, 0))
    assert friday is not None and friday.astimezone(UTC) == datetime(2026, 3, 27, 7, 0, tzinfo=UTC)
    assert monday is not None and monday.astimezone(UTC) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert is_open(shop, datetime(2026, 3, 30, 6, 0, tzinfo=UTC))
    assert not is_open(shop, datetime(2026, 3, 30, 5, 59, tzinfo=UTC))


def test_an_opening_skipped_by_the_spring_jump_opens_at_the_jump() -> None:
    # On 2026-03-29 Berlin clocks jump from 02:00 to 03:00 (01:00 UTC).
    early = one_day(BERLIN, sun=(Span(2 * 60 + 30, 5 * 60),))
    at = berlin(2026, 3, 29, 1, 30)
    assert next_opening(early, at) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert not is_open(early, datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    assert is_open(early, datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert describe_next_opening(early, at) == "We open again today at 3 AM."
    # A range that lies wholly inside the skipped hour never opens that night.
    lost = one_day(BERLIN, sun=(Span(2 * 60 + 10, 2 * 60 + 40),))
    assert next_opening(lost, at) == berlin(2026, 4, 5, 2, 10)


def test_a_repeated_hour_in_autumn_opens_at_each_occurrence() -> None:
    # New York falls back on 2026-11-01: 01:00-02:00 happens in EDT (05:00 UTC) and again in EST.
    hours = one_day(NEW_YORK, sun=(Span(90, 105),))  # 01:30-01:45
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert next_opening(hours, datetime(2026, 11, 1, 4, 0, tzinfo=UTC)) == first
    assert not is_open(hours, datetime(2026, 11, 1, 5, 50, tzinfo=UTC))
    assert next_opening(hours, datetime(2026, 11, 1, 5, 50, tzinfo=UTC)) == second
    assert is_open(hours, datetime(2026, 11, 1, 6, 35, tzinfo=UTC))
    assert not is_open(hours, datetime(2026, 11, 1, 6, 45, tzinfo=UTC))


def test_a_day_that_is_open_all_the_time_stays_open_through_the_clock_change() -> None:
    always = one_day(BERLIN, sun=(Span(0, 24 * 60),))
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 00:00 CEST, a 25-hour day
    for minutes in range(0, 25 * 60, 15):
        assert is_open(always, start + timedelta(minutes=minutes))
    assert not is_open(always, start + timedelta(hours=25))


def test_the_week_in_words(shop: BusinessHours) -> None:
    assert describe_week(shop) == "Monday to Friday, 8 AM to 6 PM; Saturday, 9 AM to 1 PM."
    split = (Span(510, 720), Span(780, 1050))
    varied = one_day(
        BERLIN,
        mon=split,
        tue=(Span(0, 24 * 60),),
        wed=(Span(0, 24 * 60),),
        fri=(Span(720, 24 * 60),),
        sat=(Span(0, 90), Span(600, 660), Span(1200, 1230)),
        sun=(Span(0, 90), Span(600, 660), Span(1200, 1230)),
    )
    assert describe_week(varied) == (
        "Monday, 8:30 AM to noon and 1 PM to 5:30 PM; Tuesday and Wednesday, 24 hours; "
        "Friday, noon to midnight; "
        "Saturday and Sunday, midnight to 1:30 AM, 10 AM to 11 AM and 8 PM to 8:30 PM."
    )
    assert describe_week(one_day(BERLIN)) == "Closed every day."


def test_parsed_hours_hold_every_setting(shop: BusinessHours) -> None:
    assert shop.timezone == BERLIN
    assert shop.weekly[0] == shop.weekly[4] == (Span(480, 1080),)
    assert shop.weekly[5] == (Span(540, 780),)
    assert shop.weekly[6] == ()
    assert shop.holidays == {
        datetime(2026, 12, 25).date(): (),
        datetime(2026, 12, 24).date(): (Span(480, 720),),
    }
    assert not shop.emergency_closed


def test_several_ranges_a_day_as_a_list_or_with_commas_and_24_00_as_the_end() -> None:
    hours = load(
        """\
        hours:
          timezone: America/New_York
          weekly:
            mon: ["13:00-18:00", "8:00-12:00"]
            tue: "08:00-12:00, 13:00-18:00"
            wed-sun: "20:00-24:00"
        """
    )
    assert hours.weekly[0] == hours.weekly[1] == (Span(480, 720), Span(780, 1080))
    assert hours.weekly[2:] == ((Span(1200, 1440),),) * 5
    assert hours.holidays == {}


def test_every_mistake_is_listed_with_its_line() -> None:
    found = problems(
        """\
        hours:
          timezone: Mars/Olympus
          weekly:
            mon: "08:00-18:00"
            tue: 8-18
            wed: "08:00-25:00"
            thu: "08:00-12:60"
            fri: "24:00-24:00"
            sat: "18:00-08:00"
            sun: ["08:00-12:00", "11:00-14:00"]
            fun: closed
          holidays:
            "2026-13-01": closed
            "2026-12-24": sometimes
            "2026-12-31": off
          open: always
        """
    )
    assert found == [
        "flow.yaml line 16: unknown hours setting 'open'; allowed: timezone, weekly, holidays",
        "flow.yaml line 2: unknown time zone 'Mars/Olympus'; use a name like Europe/Berlin or "
        "America/New_York",
        "flow.yaml line 5: '8-18' is not a time range like 08:00-18:00",
        "flow.yaml line 6: '25:00' is not a time of day; use 00:00 to 23:59, or 24:00 for the end of the day",
        "flow.yaml line 7: '12:60' is not a time of day; use 00:00 to 23:59, or 24:00 for the end of the day",
        "flow.yaml line 8: '24:00-24:00' starts at 24:00; start at 00:00 on the next day instead",
        "flow.yaml line 9: '18:00-08:00' ends before it starts; a range past midnight is two ranges, "
        "e.g. 22:00-24:00 and 00:00-06:00 on the next day",
        "flow.yaml line 10: ranges 08:00-12:00 and 11:00-14:00 overlap",
        "flow.yaml line 11: 'fun' is not a weekday; use mon, tue, wed, thu, fri, sat, sun or a run of them "
        "like mon-fri",
        "flow.yaml line 13: '2026-13-01' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-25",
        "flow.yaml line 14: 'sometimes' is not a time range like 08:00-18:00",
        "flow.yaml line 15: write 'closed' or a time range like 08:00-18:00 "
        "(YAML reads bare no/off as false)",
    ]


def test_wrong_time_zone_values_and_missing_parts_are_named() -> None:
    assert problems("hours:\n  weekly: closed\n") == [
        "flow.yaml line 1: 'timezone' is required, e.g. Europe/Berlin or America/New_York",
        "flow.yaml line 2: 'weekly' must map each weekday (mon ... sun) to its hours or 'closed'",
    ]
    assert problems("hours:\n  timezone: 5\n  weekly: {mon-sun: closed}\n") == [
        "flow.yaml line 2: 'timezone' must be a time zone name like Europe/Berlin",
    ]
    assert problems("hours:\n  timezone: ../../etc/passwd\n  weekly: {mon-sun: closed}\n") == [
        "flow.yaml line 2: unknown time zone '../../etc/passwd'; use a name like Europe/Berlin or "
        "America/New_York",
    ]
    assert problems("hours: always\n") == [
        "flow.yaml line 1: 'hours' must be a mapping with 'timezone', 'weekly' and 'holidays'",
    ]


def test_weekdays_must_all_be_given_once() -> None:
    assert problems(
        """\
        hours:
          timezone: UTC
          weekly:
            mon-fri: "08:00-18:00"
            fri-mon: closed
            wed: closed
            mon-tue-wed: closed
        """
    ) == [
        "flow.yaml line 5: 'fri-mon' is not a weekday; use mon, tue, wed, thu, fri, sat, sun or a run of "
        "them like mon-fri",
        "flow.yaml line 6: Wednesday is given twice (also in 'mon-fri')",
        "flow.yaml line 7: 'mon-tue-wed' is not a weekday; use mon, tue, wed, thu, fri, sat, sun or a run "
        "of them like mon-fri",
        "flow.yaml line 3: no hours for sat, sun; write '<day>: closed' for a day without hours",
    ]


def test_empty_and_odd_day_values_are_refused() -> None:
    assert problems(
        """\
        hours:
          timezone: UTC
          weekly: {mon: [], tue: 9, wed: "", thu: [closed], fri-sun: closed}
          holidays: [2026-12-25]
        """
    ) == [
        "flow.yaml line 3: write 'closed' or time ranges like 08:00-18:00 (several: a list, or "
        "comma-separated)",
        "flow.yaml line 3: write 'closed' or time ranges like 08:00-18:00 (several: a list, or "
        "comma-separated)",
        "flow.yaml line 3: '' is not a time range like 08:00-18:00",
        "flow.yaml line 3: 'closed' is not a time range like 08:00-18:00",
        "flow.yaml line 4: 'holidays' must map dates (YYYY-MM-DD) to 'closed' or special hours",
    ]


def test_a_bigger_validator_gets_each_problem_at_its_path() -> None:
    seen: list[tuple[tuple[Any, ...], str]] = []
    raw = {"timezone": "UTC", "weekly": {"mon-sun": ["08:00-12:00", "9:00"]}}
    assert check_hours(raw, ("settings", "hours"), lambda path, msg: seen.append((path, msg))) is None
    assert seen == [
        (("settings", "hours", "weekly", "mon-sun", 1), "'9:00' is not a time range like 08:00-18:00")
    ]
    good = check_hours({"timezone": "UTC", "weekly": {"mon-sun": "closed"}}, (), lambda *_: seen.clear())
    assert good == BusinessHours(ZoneInfo("UTC"), ((),) * 7)
    assert len(seen) == 1  # nothing more was reported


def test_hours_built_in_code_refuse_overlaps_and_bad_spans() -> None:
    with pytest.raises(ValueError, match="overlap"):
        one_day(BERLIN, mon=(Span(480, 720), Span(700, 800)))
    with pytest.raises(ValueError, match="start < end"):
        Span(600, 600)
    with pytest.raises(ValueError, match="start < end"):
        Span(0, 1441)
