"""`ivr repairs slots list|add|remove`: the repair slot calendar from the shell, audited."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import date
from typing import Any

from ivr.cli.common import cli_stores


def cmd_repair_slots(args: argparse.Namespace) -> int:
    """The repair slot calendar from the shell (as supervisors keep it on the console): add or
    remove free slots, or list them; every change audited as done by `--by`."""
    from ivr.store.audit import AuditLog
    from ivr.store.repair_bookings import DayPart, SqlRepairBookings

    async def run() -> int:
        stores = cli_stores()
        await stores.open()
        try:
            calendar = SqlRepairBookings(stores.sql)
            if args.action == "list":
                for slot in await calendar.slots(date.today()):
                    print(f"{slot.day} {slot.part.value:9} {slot.booking or 'free'}")
                return 0
            day, part = date.fromisoformat(args.day), DayPart(args.part)
            if args.action == "add":
                done = await calendar.add_slot(day, part, args.by)
                why = "the calendar has it already"
            else:
                done = await calendar.remove_slot(day, part)
                why = "it is booked (its caller moves or cancels it) or not in the calendar"
            if not done:
                print(f"ivr repairs slots {args.action}: {day} {part.value}: {why}", file=sys.stderr)
                return 1
            await AuditLog(stores.sql).record(args.by, f"repair_slot.{args.action}", f"{day} {part.value}")
            print(f"{'Added' if args.action == 'add' else 'Removed'} {day} {part.value}.")
            return 0
        finally:
            await stores.close()

    return asyncio.run(run())


def _iso_day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a day like 2026-12-01") from None


def add_parser(sub: Any) -> None:
    repairs = sub.add_parser("repairs", help="repairs the line books: the slot calendar")
    repairs_sub = repairs.add_subparsers(dest="what", required=True)
    slots = repairs_sub.add_parser("slots", help="the times a courier or technician can come")
    slots_sub = slots.add_subparsers(dest="action", required=True)
    slots_sub.add_parser("list", help="every slot from today on, free or booked").set_defaults(
        run=cmd_repair_slots
    )
    for action, text in (("add", "open a free slot"), ("remove", "close a free slot")):
        change = slots_sub.add_parser(action, help=text)
        change.add_argument("day", type=_iso_day, help="the day, e.g. 2026-12-01")
        change.add_argument("part", choices=("morning", "afternoon"))
        change.add_argument("--by", default=getpass.getuser(), help="who changed it, for the audit log")
        change.set_defaults(run=cmd_repair_slots)
