"""The demo's data, dated afresh: a week after it was written, the demo still reads as written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.demo_dates import DEMO_DAY, afternoon_zone, dated, main
from ivr.importer import ImportKind, parse_file
from ivr.testing.demo_line import DEMO


def test_every_date_moves_by_the_days_since_and_nothing_else_does() -> None:
    text = 'order_number,placed_on,eta,notes\n4512,2026-11-20,2026-12-04,"shipped 2026-11-23, late"\n'
    assert dated(text, date(2027, 3, 1)) == (
        'order_number,placed_on,eta,notes\n4512,2027-02-26,2027-03-12,"shipped 2026-11-23, late"\n'
    ), "a date inside a note is words, not a date"
    assert dated(text, DEMO_DAY) == text


def test_the_dated_demo_imports_and_keeps_its_story(tmp_path: Path) -> None:
    """Three months on, every order is due as many days from today as it was on the demo day."""
    today = date(2027, 2, 23)
    assert main(["copy", str(DEMO), str(tmp_path), "--today", today.isoformat()]) == 0
    orders = {o.order_number: o for o in parse_file(ImportKind.ORDERS, tmp_path / "orders.csv")}
    written = {o.order_number: o for o in parse_file(ImportKind.ORDERS, DEMO / "orders.csv")}
    assert set(orders) == set(written)
    for number, order in orders.items():
        before = written[number]
        if before.eta is not None:
            assert order.eta is not None and (order.eta - today) == (before.eta - DEMO_DAY), number
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["orders.csv", "repairs.csv", "warranties.csv"]
    for kind in ImportKind:
        parse_file(kind, tmp_path / f"{kind.value}.csv")  # all or nothing: raises on any problem


def test_at_every_hour_some_zone_is_in_the_afternoon_and_the_machines_own_comes_first() -> None:
    """The demo's step 7 (docs/sandbox.md) calls a demo customer at once, whatever the hour."""
    start = datetime(2026, 12, 7, tzinfo=UTC)
    for quarter in range(24 * 4):
        now = start + timedelta(minutes=15 * quarter)
        zone = afternoon_zone(now, "Europe/Berlin")
        assert now.astimezone(ZoneInfo(zone)).hour in range(12, 17), (now, zone)
        assert (zone == "Europe/Berlin") == (now.astimezone(ZoneInfo("Europe/Berlin")).hour in range(12, 17))
