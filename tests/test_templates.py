"""Prompt templates and the way numbers and dates are spoken."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.speakable import digits, last_digits, spoken_date
from ivr.templates import Template, TemplateError


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
