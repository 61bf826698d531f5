"""The demo's data, dated as if it were written today.

`demo/*.csv` describe the line on `DEMO_DAY`: an order shipped that week, a repair waiting for
parts, warranties running. The tests pin that day (so what the line says never changes under
them), but a demo loaded as written ages: a week later every order reads as late and the
screen pop's "5 days late" is a fact about the data, not the product. `scripts/demo` therefore
loads a copy with every date moved by the days since `DEMO_DAY` (`python -m ivr.demo_dates copy
demo var/demo`), so an order placed three days before that day was placed three days ago, today.

Only whole cells that are ISO dates move; everything else is copied as it is, rows and columns
in order, so the copy is what `ivr import` checks, all or nothing, like the original.

The follow-up call of the README's step 7 has the same problem with hours: campaigns call from
10:00 to 19:00 in the customer's own time, so a demo customer living in the machine's zone can
be called only in those hours. `python -m ivr.demo_dates zone` names a zone where it is
afternoon now (the machine's own when it is), so the step works at any hour of the day.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEMO_DAY = date(2026, 11, 23)
"""The day the demo data describes (the tests' `TODAY`)."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
AFTERNOON = range(12, 17)
"""Local hours a demo customer is called in at once: inside every shipped campaign's window
(10:00-19:00) with hours to spare for a retry."""
ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
    "Pacific/Kiritimati",
)
"""One zone per hour of the day, from UTC-10 to UTC+14, so some zone has every local hour."""


def shift(cell: str, by: timedelta) -> str:
    """`cell` moved by `by` if it is an ISO date, else as it is."""
    if not _ISO_DATE.fullmatch(cell):
        return cell
    try:
        return (date.fromisoformat(cell) + by).isoformat()
    except ValueError:  # looks like a date, is not one: the importer will say so
        return cell


def dated(text: str, today: date, *, demo_day: date = DEMO_DAY) -> str:
    """A demo CSV's text with every date moved from `demo_day` to `today`."""
    by = today - demo_day
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([shift(cell, by) for cell in row])
    return out.getvalue()


def afternoon_zone(now: datetime, own: str = "") -> str:
    """A time zone where it is afternoon at `now`: `own` (the machine's) when it is, else the
    first of `ZONES` that is."""
    for name in (own, *ZONES) if own else ZONES:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        if now.astimezone(zone).hour in AFTERNOON:
            return name
    return "UTC"  # not reached: ZONES covers every hour


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.demo_dates", description="the demo, as of today")
    sub = parser.add_subparsers(dest="command", required=True)
    copy = sub.add_parser("copy", help="copy the demo CSVs, dated as if written today")
    copy.add_argument("source", type=Path, help="the demo's directory (demo/)")
    copy.add_argument("target", type=Path, help="where the dated copies go (made if missing)")
    copy.add_argument("--today", type=date.fromisoformat, default=date.today(), help="YYYY-MM-DD")
    zone = sub.add_parser("zone", help="name a time zone where it is afternoon now")
    zone.add_argument(
        "own", nargs="?", default="", help="the machine's zone, chosen when it is afternoon there"
    )
    args = parser.parse_args(argv)
    if args.command == "zone":
        print(afternoon_zone(datetime.now(UTC), args.own))
        return 0
    args.target.mkdir(parents=True, exist_ok=True)
    for source in sorted(args.source.glob("*.csv")):
        (args.target / source.name).write_text(dated(source.read_text(encoding="utf-8"), args.today), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
