"""`ivr stats`: how the line performed in a period, or two flow versions side by side."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from typing import Any

from ivr.cli.common import cli_settings, cli_stores, positive


def _day(text: str) -> date:
    from ivr.insights.days import calendar_day

    try:
        return calendar_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not {exc}") from None


def cmd_stats(args: argparse.Namespace) -> int:
    """How the line performed in a period (or, with --compare, two flow versions side by side)."""
    from ivr.insights.service import Insights, Period
    from ivr.versions.store import FlowStore
    from ivr.web.startup import line_zone, load_hours

    settings = cli_settings()
    zone = line_zone(settings, load_hours(settings))
    until = args.until or datetime.now(zone).date()
    if until < args.since:
        print("ivr stats: --until is before --since", file=sys.stderr)
        return 2

    async def read() -> dict[str, Any]:
        stores = cli_stores()
        await stores.open()
        try:
            flows = FlowStore(stores.sql, language=settings.language)
            insights = Insights(stores.sql, flows, stores.calls, language=settings.language, zone=zone)
            if args.compare:
                return await insights.compare(*args.compare, language=args.language)
            return await insights.figures(
                Period(args.since, until), version=args.version, language=args.language
            )
        finally:
            await stores.close()

    figures = asyncio.run(read())
    if args.json:
        print(json.dumps(figures, indent=2))
    elif args.compare:
        for number, side in figures["versions"].items():
            print(f"Version {number}:")
            _print_stats(side)
        print(figures["text"])
    else:
        print(
            f"From {figures['since']} to {figures['until']} ({figures['time_zone']})"
            + (f", version {args.version}" if args.version else "")
        )
        _print_stats(figures)
    return 0


def _print_stats(f: dict[str, Any]) -> None:
    def pct(rate: float | None) -> str:
        return "-" if rate is None else f"{rate * 100:.1f}%"

    print(f"  calls          {f['calls']}")
    print(f"  contained      {f['contained']} ({pct(f['containment_rate'])})")
    print(
        f"  transferred    {f['transferred']}  "
        + ", ".join(f"{k}: {n}" for k, n in f["transfer_reasons"].items())
    )
    print(f"  abandoned      {f['abandoned']} in the queue")
    wait = f["queue_wait"]
    if wait["calls"]:
        print(f"  queue wait     median {wait['median_seconds']} s, 90th percentile {wait['p90_seconds']} s")
    if f["drop_off"]:
        print("  drop-off       " + ", ".join(f"{k}: {n}" for k, n in f["drop_off"].items()))
    if f["no_match_rate"]:
        print("  not understood " + ", ".join(f"{k}: {pct(r)}" for k, r in f["no_match_rate"].items()))
    for what, done in f["self_service"].items():
        name = what.replace("_", " ")
        print(f"  self-service   {name}: {done['calls']} calls ({done['contained']} without a person)")
    sat = f.get("satisfaction")
    print(
        "  satisfaction   "
        + (f"{sat['average']} of 5 ({sat['answers']} answers)" if sat else "no survey ran")
    )


def add_parser(sub: Any) -> None:
    stats = sub.add_parser(
        "stats", help="how the line performed: containment, transfers, drop-off (the line's own days)"
    )
    stats.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD")
    stats.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (default: today)")
    stats.add_argument("--version", type=positive, help="only the calls that ran on this flow version")
    stats.add_argument("--language", default=None, help="only the calls in this language")
    stats.add_argument(
        "--compare", type=positive, nargs=2, metavar=("OLDER", "NEWER"), help="two versions side by side"
    )
    stats.add_argument("--json", action="store_true", help="machine-readable (the console page's names)")
    stats.set_defaults(run=cmd_stats)
