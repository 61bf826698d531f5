"""The console's Repairs page: the repairs the line booked, and the slot calendar they take from.

    GET  /repairs                 the bookings (agents and supervisors) and the calendar
    GET  /repairs.json            the bookings as JSON
    POST /repairs/slots           add a free slot (supervisors)
    POST /repairs/slots/remove    remove a free slot (supervisors)

A technician reads here what the caller already tried (a guided troubleshooting's note), so
nobody asks again. The calendar is the company's: supervisors open slots for pickups and
visits and close free ones; a booked slot cannot be removed here (the caller was told it),
only moved or cancelled by its caller. Every change is audited with who made it. Caller
numbers are masked, as on the Returns list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from ivr.console.web import AUDIT, render, require
from ivr.logs import mask_phone
from ivr.store.accounts import Role
from ivr.store.repair_bookings import DayPart, SqlRepairBookings


@dataclass(frozen=True, slots=True)
class RepairsPage:
    bookings: SqlRepairBookings
    today: Callable[[], date]
    """The line's day: slots are listed, and opened, from it on."""


REPAIRS = web.AppKey("repairs_page", RepairsPage)
SHOWN = 200
"""The newest bookings the page lists; older ones stay in the database."""
AHEAD = 366
"""How far ahead a slot may be opened (a typing slip of a year is refused, not kept)."""


async def booking_rows(repairs: SqlRepairBookings) -> list[dict[str, Any]]:
    return [
        {
            "number": b.number,
            "booked_on": b.booked_on.isoformat(),
            "status": b.status.value,
            "product": b.product,
            "serial_number": b.serial_number,
            "order_number": b.order_number,
            "option": b.option.value,
            "slot": f"{b.slot.day.isoformat()} {b.slot.part.value}" if b.slot else "",
            "covered": b.covered,
            "guide_outcome": b.guide_outcome,
            "language": b.language,
            "caller": mask_phone(b.caller),
        }
        for b in await repairs.recent(SHOWN)
    ]


async def _page(
    request: web.Request, *, status: int = 200, error: str = "", message: str = ""
) -> web.Response:
    signed_in = require(request, Role.AGENT)
    repairs = request.app[REPAIRS].bookings
    slots = await repairs.slots(request.app[REPAIRS].today())
    return render(
        request,
        "repairs.html",
        status=status,
        bookings=await booking_rows(repairs),
        slots=[{"day": s.day.isoformat(), "part": s.part.value, "booking": s.booking} for s in slots],
        editable=signed_in.account.role.allows(Role.SUPERVISOR),
        error=error,
        message=message,
    )


async def page(request: web.Request) -> web.Response:
    return await _page(request)


async def listing(request: web.Request) -> web.Response:
    require(request, Role.AGENT)
    return web.json_response(await booking_rows(request.app[REPAIRS].bookings))


async def _slot_from_form(request: web.Request) -> tuple[date, DayPart] | str:
    """The slot a form names, or why it names none (the whole form is refused)."""
    form = await request.post()
    try:
        day = date.fromisoformat(str(form.get("day", "")).strip())
    except ValueError:
        return "Give the day as a date, like 2026-12-01."
    try:
        part = DayPart(str(form.get("part", "")))
    except ValueError:
        return "Choose morning or afternoon."
    today = request.app[REPAIRS].today()
    if not today < day <= today + timedelta(days=AHEAD):
        return f"A slot must be after today and within {AHEAD} days."
    return day, part


async def add_slot(request: web.Request) -> web.Response:
    supervisor = require(request, Role.SUPERVISOR)
    found = await _slot_from_form(request)
    if isinstance(found, str):
        return await _page(request, status=400, error=f"No slot was added: {found}")
    day, part = found
    if not await request.app[REPAIRS].bookings.add_slot(day, part, supervisor.account.username):
        return await _page(request, status=409, error=f"The calendar already has {day} {part.value}.")
    await request.app[AUDIT].record(supervisor.account.username, "repair_slot.add", f"{day} {part.value}")
    return await _page(request, message=f"Added {day} {part.value}.")


async def remove_slot(request: web.Request) -> web.Response:
    supervisor = require(request, Role.SUPERVISOR)
    found = await _slot_from_form(request)
    if isinstance(found, str):
        return await _page(request, status=400, error=f"No slot was removed: {found}")
    day, part = found
    if not await request.app[REPAIRS].bookings.remove_slot(day, part):
        error = (
            f"{day} {part.value} is booked or not in the calendar:"
            " a booked slot is moved or cancelled by its caller."
        )
        return await _page(request, status=409, error=error)
    await request.app[AUDIT].record(supervisor.account.username, "repair_slot.remove", f"{day} {part.value}")
    return await _page(request, message=f"Removed {day} {part.value}.")


def setup_repairs_page(
    console: web.Application, repairs: SqlRepairBookings, today: Callable[[], date]
) -> None:
    console[REPAIRS] = RepairsPage(repairs, today)
    console.router.add_get("/repairs", page)
    console.router.add_get("/repairs.json", listing)
    console.router.add_post("/repairs/slots", add_slot)
    console.router.add_post("/repairs/slots/remove", remove_slot)
