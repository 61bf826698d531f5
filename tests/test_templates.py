"""Prompt templates and the way numbers and dates are spoken."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ivr.prompts import load_catalog
from ivr.speakable import digits, last_digits, phone_number, spoken_date
from ivr.templates import Template, TemplateError

ROOT = Path(__file__).resolve().parent.parent


def test_numbers_are_read_digit_by_digit() -> None:
    assert digits("4512") == "4 5 1 2"
    assert last_digits("1Z999AA10123456784") == "6 7 8 4"


def test_dates_are_words_and_the_year_only_when_it_is_not_this_year() -> None:
    today = date(2026, 11, 23)
    assert spoken_date(date(2026, 12, 4), today) == "Friday, December 4"
    assert spoken_date(date(2027, 1, 15), today) == "Friday, January 15, 2027"


def test_optional_segments_drop_out_when_a_value_is_missing() -> None:
    template = Template("Order {n:digits} has shipped[ with {carrier}][ and should arrive on {eta:date}].")
    assert template.render({"n": "12", "carrier": "UPS", "eta": "2026-12-04"}, date(2026, 11, 23)) == (
        "Order 1 2 has shipped with UPS and should arrive on Friday, December 4."
    )
    assert template.render({"n": "12"}) == "Order 1 2 has shipped."


def test_unknown_formats_and_bad_brackets_are_refused() -> None:
    with pytest.raises(TemplateError, match="unknown format 'money'"):
        Template("{total:money}")
    with pytest.raises(TemplateError, match="square brackets"):
        Template("[unclosed {x}")
    with pytest.raises(TemplateError, match="malformed"):
        Template("{x.__class__}")


TODAY = date(2026, 11, 29)  # a Sunday


@pytest.mark.parametrize(
    ("day", "locale", "said"),
    [
        (date(2026, 11, 29), "en-US", "today"),
        (date(2026, 11, 30), "en-US", "tomorrow"),
        (date(2026, 12, 4), "en-US", "on Friday"),
        (date(2026, 12, 5), "en-US", "on Saturday"),  # six days ahead: still this week
        (date(2026, 12, 6), "en-US", "on December 6"),  # a week ahead: "on Sunday" would be today's name
        (date(2026, 11, 28), "en-US", "yesterday"),
        (date(2026, 11, 23), "en-US", "on November 23"),  # past weekdays are never said alone
        (date(2027, 1, 4), "en-US", "on January 4, 2027"),
        (date(2026, 11, 30), "de-DE", "morgen"),
        (date(2026, 12, 4), "de-DE", "am Freitag"),
        (date(2026, 12, 24), "de-DE", "am 24. Dezember"),
        (date(2026, 12, 24), "sv-SE", "den 24 december"),
    ],
)
def test_dates_near_today_are_said_as_people_say_them(day: date, locale: str, said: str) -> None:
    assert Template("{d:when}").render({"d": day.isoformat()}, TODAY, locale) == said


def test_full_dates_follow_the_locale() -> None:
    assert spoken_date(date(2026, 12, 4), TODAY, "de-DE") == "Freitag, dem 4. Dezember"
    assert spoken_date(date(2027, 1, 4), TODAY, "en-US") == "Monday, January 4, 2027"


def test_an_if_placeholder_keeps_its_segment_without_saying_anything() -> None:
    template = Template("Late.[{late:if} Press 0 for an agent.]")
    assert template.render({"late": "yes"}) == "Late. Press 0 for an agent."
    assert template.render({}) == "Late."


SHIPPED = {"order_number": "4512", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"}


@pytest.mark.parametrize(
    ("status", "values", "said"),
    [
        (
            "shipped",
            {**SHIPPED, "eta_due": "2026-11-30"},
            "Order 4 5 1 2 has shipped with UPS and should arrive tomorrow."
            " The tracking number ends in 6 7 8 4.",
        ),
        (
            "shipped",
            {**SHIPPED, "eta_late": "2026-11-23", "late": "yes"},
            "Order 4 5 1 2 has shipped with UPS. It is running late: it was due on November 23."
            " The tracking number ends in 6 7 8 4. To speak with an agent about it, press 0.",
        ),
        (
            "out_for_delivery",
            {**SHIPPED, "eta_late": "2026-11-22", "late": "yes"},
            "Order 4 5 1 2 is out for delivery today with UPS."
            " It is running late: it was due on November 22."
            " The tracking number ends in 6 7 8 4. To speak with an agent about it, press 0.",
        ),
        (
            "received",
            {"order_number": "7788", "placed_on": "2026-11-28", "eta_due": "2026-12-03"},
            "Order 7 7 8 8 was received yesterday and will be prepared for shipping soon;"
            " it should arrive on Thursday.",
        ),
        (
            "processing",
            {"order_number": "7788", "ship_due": "2026-11-30", "eta_due": "2026-12-08"},
            "Order 7 7 8 8 is being prepared for shipping and should ship tomorrow;"
            " it should arrive on December 8.",
        ),
        (
            "processing",
            {"order_number": "7788", "ship_late": "2026-11-26", "late": "yes"},
            "Order 7 7 8 8 is being prepared for shipping. It is running late: it was due to ship on"
            " November 26. To speak with an agent about it, press 0.",
        ),
    ],
)
def test_order_answers_say_dates_honestly(status: str, values: dict[str, str], said: str) -> None:
    catalog = load_catalog(ROOT / "prompts" / "en.yaml")
    assert catalog.render(f"order_status.{status}", values, TODAY) == said


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        ("+4930555010", "0 3 0, 5 5 5 0 1 0"),
        ("+4681234567", "0 8, 1 2 3, 4 5, 6 7"),
        ("+14155550123", "4 1 5, 5 5 5, 0 1 2 3"),
        ("not a number 12", "1 2"),
    ],
)
def test_a_phone_number_is_read_as_dialled_at_home_never_with_plus(number: str, spoken: str) -> None:
    assert phone_number(number) == spoken
    assert "+" not in Template("Call us on {n:phone}.").render({"n": number})
