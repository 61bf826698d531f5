"""Repairs the line books for callers, and the slot calendar the company keeps for them.

A pickup from home or a technician's visit needs a time, and a time can be given to one
caller only. So the calendar is a table of slots (a day and a part of it, morning or
afternoon), each holding the number of the booking that took it ('' while free), and taking
one is a conditional UPDATE in the same transaction that files the booking: of two callers,
or two instances, racing for one slot exactly one changes the row, and the other's whole
booking is rolled back and it hears the next free slot. A product has one standing booking
(a unique key that is cleared on cancelling), so a retried webhook cannot book twice.

Booking numbers are short digits a caller can key in or read out, handed out in order in the
statement that files the booking (as return numbers are). One text, both dialects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from ivr.records import names_from, product_in
from ivr.store.sql import Conflict, Row, Sql, Statement

FIRST_BOOKING = 8001
"""The first booking number: four digits, never read as an order (the prompts say which)."""
MAX_TRIES = 5
"""Two instances taking the same next number at once: the loser's primary key fails and it
takes the number after (PostgreSQL; SQLite writes one at a time)."""


class RepairOption(StrEnum):
    """How the product reaches a technician (the line's settings say which are offered)."""

    PICKUP = "pickup"
    """A courier collects it from the caller's home in a slot."""
    DROPOFF = "dropoff"
    """The caller brings it to the market's service point: no slot."""
    VISIT = "visit"
    """A technician comes to the caller's home in a slot."""

    @property
    def needs_slot(self) -> bool:
        return self is not RepairOption.DROPOFF


class DayPart(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"


class BookingStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Slot:
    day: date
    part: DayPart
    booking: str = ""
    """The booking holding it; '' while it is free."""


@dataclass(frozen=True, slots=True)
class Product:
    """A product a caller owns, as the warranty rows register it by serial number."""

    serial_number: str
    order_number: str
    product: str
    """Its name for the caller's language (`product_in`)."""
    expires_on: date | None


@dataclass(frozen=True, slots=True)
class RepairBooking:
    number: str
    serial_number: str
    order_number: str
    product: str
    caller: str
    """The number it was booked from: where the text went, and who hears it when calling again."""
    option: RepairOption
    slot: Slot | None
    """The pickup's or visit's slot; None for a drop-off."""
    status: BookingStatus
    covered: bool
    """Under warranty: free. Otherwise the caller agreed to the market's repair price."""
    guide_outcome: str
    """What the caller had already tried (a guided troubleshooting's note), for the technician."""
    language: str
    booked_on: date
    created_at: float


class SlotTaken(Exception):
    """The slot was taken by someone else between offering it and booking it."""


class AlreadyBooked(Exception):
    """The product already has a standing booking (another call, or a retried webhook)."""


class RepairBookings(Protocol):
    """What the flow's repair actions need of the store."""

    async def products_of(self, order_numbers: Sequence[str], language: str = "") -> Sequence[Product]: ...

    async def free_slots(self, after: date, limit: int = 2) -> Sequence[Slot]:
        """The earliest free slots on days after `after` (never today: someone must plan it)."""
        ...

    async def standing_for(self, caller: str) -> RepairBooking | None:
        """The newest standing booking made from this number (what a caller calling again hears)."""
        ...

    async def book(
        self,
        product: Product,
        caller: str,
        option: RepairOption,
        slot: Slot | None,
        *,
        covered: bool,
        guide_outcome: str,
        language: str,
        booked_on: date,
    ) -> RepairBooking:
        """File a booking with the next number, taking `slot`; raises SlotTaken or AlreadyBooked."""
        ...

    async def move(self, number: str, slot: Slot) -> RepairBooking:
        """Move a standing booking to `slot`, freeing its old one; raises SlotTaken."""
        ...

    async def cancel(self, number: str) -> bool:
        """Cancel a standing booking and free its slot; False when it was not standing."""
        ...


_COLUMNS = (
    "number, serial_number, order_number, product, caller, repair_option, slot_day, slot_part, status,"
    " covered, guide_outcome, language, booked_on, created_at"
)
_INSERT = (
    f"INSERT INTO repair_bookings ({_COLUMNS}, open_key, updated_at)"
    f" SELECT CAST(COALESCE(MAX(CAST(number AS bigint)) + 1, {FIRST_BOOKING}) AS text),"
    " CAST($1 AS text), CAST($2 AS text), CAST($3 AS text), CAST($4 AS text), CAST($5 AS text),"
    " CAST($6 AS text), CAST($7 AS text), CAST($8 AS text), CAST($9 AS integer), CAST($10 AS text),"
    " CAST($11 AS text), CAST($12 AS text), CAST($13 AS double precision),"
    " CAST($1 AS text), CAST($13 AS double precision)"
    " FROM repair_bookings WHERE true ON CONFLICT (open_key) DO NOTHING"
    f" RETURNING {_COLUMNS}"
)
"""The next number and the row in one statement; a product with a standing booking inserts nothing."""
_TAKE = (
    "UPDATE repair_slots SET booking = (SELECT MAX(number) FROM repair_bookings WHERE open_key = $3)"
    " WHERE day = $1 AND part = $2 AND booking = ''"
)
"""Take a free slot for the booking just filed (in the same transaction); 0 rows: it was taken."""


def _slot(row: Row) -> Slot:
    return Slot(date.fromisoformat(str(row["day"])), DayPart(row["part"]), str(row["booking"]))


def _record(row: Row) -> RepairBooking:
    day = str(row["slot_day"])
    return RepairBooking(
        number=str(row["number"]),
        serial_number=str(row["serial_number"]),
        order_number=str(row["order_number"]),
        product=str(row["product"]),
        caller=str(row["caller"]),
        option=RepairOption(row["repair_option"]),
        slot=Slot(date.fromisoformat(day), DayPart(row["slot_part"]), str(row["number"])) if day else None,
        status=BookingStatus(row["status"]),
        covered=bool(row["covered"]),
        guide_outcome=str(row["guide_outcome"]),
        language=str(row["language"]),
        booked_on=date.fromisoformat(str(row["booked_on"])),
        created_at=float(row["created_at"]),
    )


def _number_race(exc: Exception) -> bool:
    return "repair_bookings_pkey" in str(exc)


class SqlRepairBookings:
    def __init__(self, sql: Sql, *, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def products_of(self, order_numbers: Sequence[str], language: str = "") -> list[Product]:
        products: list[Product] = []
        for order in sorted(set(order_numbers)):
            rows = await self.sql.fetch(
                "SELECT serial_number, order_number, product, product_names, expires_on FROM warranties"
                " WHERE order_number = $1 ORDER BY serial_number",
                order,
            )
            products += [
                Product(
                    str(row["serial_number"]),
                    str(row["order_number"]),
                    product_in(str(row["product"]), names_from(row["product_names"]), language),
                    date.fromisoformat(str(row["expires_on"])) if row["expires_on"] else None,
                )
                for row in rows
            ]
        return products

    # --- the calendar ----------------------------------------------------------
    async def slots(self, since: date) -> list[Slot]:
        """Every slot from `since` on, free or taken, for the console's calendar."""
        rows = await self.sql.fetch(
            "SELECT day, part, booking FROM repair_slots WHERE day >= $1 ORDER BY day, part DESC",
            since.isoformat(),
        )
        return [_slot(row) for row in rows]

    async def free_slots(self, after: date, limit: int = 2) -> list[Slot]:
        rows = await self.sql.fetch(
            "SELECT day, part, booking FROM repair_slots WHERE day > $1 AND booking = ''"
            " ORDER BY day, part DESC LIMIT $2",
            after.isoformat(),
            limit,
        )
        return [_slot(row) for row in rows]

    async def add_slot(self, day: date, part: DayPart, by: str) -> bool:
        """Add a free slot; False when the calendar has it already."""
        added = await self.sql.execute(
            "INSERT INTO repair_slots (day, part, booking, created_by, created_at)"
            " VALUES ($1, $2, '', $3, $4)"
            " ON CONFLICT (day, part) DO NOTHING",
            day.isoformat(),
            part.value,
            by,
            self.clock(),
        )
        return added == 1

    async def remove_slot(self, day: date, part: DayPart) -> bool:
        """Remove a free slot; False when it is booked (move or cancel the booking first) or gone."""
        removed = await self.sql.execute(
            "DELETE FROM repair_slots WHERE day = $1 AND part = $2 AND booking = ''",
            day.isoformat(),
            part.value,
        )
        return removed == 1

    # --- bookings ----------------------------------------------------------------
    async def recent(self, limit: int = 200) -> list[RepairBooking]:
        """The newest bookings first, cancelled ones too, for the console's list."""
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM repair_bookings ORDER BY created_at DESC, number DESC LIMIT $1", limit
        )
        return [_record(row) for row in rows]

    async def standing_for(self, caller: str) -> RepairBooking | None:
        if not caller:
            return None
        row = await self.sql.fetchone(
            f"SELECT {_COLUMNS} FROM repair_bookings WHERE caller = $1 AND status = $2"
            " ORDER BY created_at DESC, number DESC LIMIT 1",
            caller,
            BookingStatus.BOOKED.value,
        )
        return _record(row) if row else None

    async def book(
        self,
        product: Product,
        caller: str,
        option: RepairOption,
        slot: Slot | None,
        *,
        covered: bool,
        guide_outcome: str,
        language: str,
        booked_on: date,
    ) -> RepairBooking:
        args = (
            product.serial_number,
            product.order_number,
            product.product,
            caller,
            option.value,
            slot.day.isoformat() if slot else "",
            slot.part.value if slot else "",
            BookingStatus.BOOKED.value,
            int(covered),
            guide_outcome,
            language,
            booked_on.isoformat(),
        )
        take = (
            [Statement(_TAKE, (slot.day.isoformat(), slot.part.value, product.serial_number), expect_rows=1)]
            if slot is not None
            else []
        )
        tries = 0
        while True:
            insert = Statement(_INSERT, (*args, self.clock()), expect_rows=1)
            try:
                done = await self.sql.atomic([insert, *take])
            except Conflict as exc:
                raise (AlreadyBooked() if exc.index == 0 else SlotTaken()) from None
            except Exception as exc:  # the same next number taken by another instance: the one after
                tries += 1
                if tries < MAX_TRIES and _number_race(exc):
                    continue
                raise
            return _record(done[0][0])

    async def _standing(self, number: str) -> RepairBooking | None:
        row = await self.sql.fetchone(
            f"SELECT {_COLUMNS} FROM repair_bookings WHERE number = $1 AND status = $2",
            number,
            BookingStatus.BOOKED.value,
        )
        return _record(row) if row else None

    async def move(self, number: str, slot: Slot) -> RepairBooking:
        now = self.clock()
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE repair_slots SET booking = $3 WHERE day = $1 AND part = $2 AND booking = ''",
                        (slot.day.isoformat(), slot.part.value, number),
                        expect_rows=1,
                    ),
                    Statement(
                        "UPDATE repair_slots SET booking = ''"
                        " WHERE booking = $1 AND NOT (day = $2 AND part = $3)",
                        (number, slot.day.isoformat(), slot.part.value),
                    ),
                    Statement(
                        "UPDATE repair_bookings SET slot_day = $2, slot_part = $3, updated_at = $4"
                        " WHERE number = $1 AND status = $5",
                        (number, slot.day.isoformat(), slot.part.value, now, BookingStatus.BOOKED.value),
                        expect_rows=1,
                    ),
                ]
            )
        except Conflict as exc:
            if exc.index == 0:
                raise SlotTaken() from None
            raise
        moved = await self._standing(number)
        assert moved is not None
        return moved

    async def cancel(self, number: str) -> bool:
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE repair_bookings SET status = $2, open_key = NULL, updated_at = $3"
                        " WHERE number = $1 AND status = $4",
                        (number, BookingStatus.CANCELLED.value, self.clock(), BookingStatus.BOOKED.value),
                        expect_rows=1,
                    ),
                    Statement("UPDATE repair_slots SET booking = '' WHERE booking = $1", (number,)),
                ]
            )
        except Conflict:
            return False
        return True
