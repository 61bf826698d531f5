"""The demo's data, dated as if it were written today.

`demo/*.csv` describe the line on `DEMO_DAY`: an order shipped that week, a repair waiting for
parts, warranties running. The tests pin that day (so what the line says never changes under
them), but a demo loaded as written ages: a week later every order reads as late and the
screen pop's "5 days late" is a fact about the data, not the product. `scripts/demo` therefore
loads a copy with every date moved by the days since `DEMO_DAY` (`python -m ivr.demo_dates demo
var/demo`), so an order placed three days before that day was placed three days ago, today.

Only whole cells that are ISO dates move; everything else is copied as it is, rows and columns
in order, so the copy is what `ivr import` checks, all or nothing, like the original.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

DEMO_DAY = date(2026, 11, 23)
"""The day the demo data describes (the tests' `TODAY`)."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ivr.demo_dates", description="copy the demo CSVs, dated as if written today"
    )
    parser.add_argument("source", type=Path, help="the demo's directory (demo/)")
    parser.add_argument("target", type=Path, help="where the dated copies go (made if missing)")
    parser.add_argument("--today", type=date.fromisoformat, default=date.today(), help="YYYY-MM-DD")
    args = parser.parse_args(argv)
    args.target.mkdir(parents=True, exist_ok=True)
    for source in sorted(args.source.glob("*.csv")):
        (args.target / source.name).write_text(dated(source.read_text(encoding="utf-8"), args.today), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
