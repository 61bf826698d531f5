"""Returns the line started for callers: one row per returned product, with its return number.

A return is the one thing the line *writes* about an order, so two rules are kept in SQL,
where every instance sees them: a product is returned once (a unique key on the order and
the product's serial number, so two calls racing, or a retried webhook, cannot open a second
return), and return numbers (RMAs) are short digits a caller can key in or read out, handed
out in order (a second call taking the same number at once fails on the key and takes the
next). The company hears of each return (`return.started`) from the same transaction. One
table, both dialects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from ivr.events import EventType
from ivr.records import names_from, product_in
from ivr.store.event_outbox import event
from ivr.store.sql import Conflict, Row, Sql, Statement

FIRST_RMA = 7001
"""The first return number: four digits, so it is never read as an order number (4 digits too,
but the prompts always say which)."""


class ReturnReason(StrEnum):
    """Why the product goes back: the short list a caller picks from (say or press)."""

    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_NEEDED = "not_needed"
    NOT_WORKING = "not_working"


class ReturnStatus(StrEnum):
    STARTED = "started"
    """Filed by the line and the label texted; the product is on its way back to us."""


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    rma: str
    order_number: str
    serial_number: str
    """The returned product's serial number; "" for an order that lists no products."""
    product: str
    caller: str
    """The number the return was started from (where the label went, and who hears its status)."""
    reason: ReturnReason
    status: ReturnStatus
    language: str
    started_on: date
    """The line's day when it was started (the call's own calendar, as its prompts read dates)."""
    created_at: float


class Returns(Protocol):
    """What the flow's return actions need of the store."""

    async def of_order(self, order_number: str) -> Sequence[ReturnRecord]: ...

    async def latest_for(self, caller: str) -> ReturnRecord | None:
        """The newest return started from this number (what a caller calling again hears)."""
        ...

    async def products_of(self, order_number: str, language: str = "") -> Sequence[tuple[str, str]]:
        """(serial number, product) of each product on an order: its warranty rows, since every
        product sold is registered there by serial number (the order lines the import has). The
        name is the one for a caller of `language` ('' for the line's default; `product_in`)."""
        ...

    async def start(
        self,
        order_number: str,
        serial_number: str,
        product: str,
        caller: str,
        reason: ReturnReason,
        language: str,
        started_on: date,
    ) -> ReturnRecord | None:
        """File a return with the next return number; None when that product already has one."""
        ...


_COLUMNS = (
    "rma, order_number, serial_number, product, caller, reason, status, language, started_on, created_at"
)
_NEXT = f"SELECT CAST(COALESCE(MAX(CAST(rma AS bigint)) + 1, {FIRST_RMA}) AS text) AS rma FROM returns"
"""The next return number (read just before the insert that takes it)."""
_INSERT = (
    f"INSERT INTO returns ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (order_number, serial_number) DO NOTHING"
)
"""The row; a product already returned inserts nothing (and the batch, its event too, is rolled back)."""
MAX_TRIES = 5
"""Two calls taking the same next number at once: the loser's primary key fails and it reads
the number after."""
_TAKEN = ("returns_pkey", "returns.rma")
"""How PostgreSQL and SQLite name the primary key a taken return number fails."""


def _record(row: Row) -> ReturnRecord:
    return ReturnRecord(
        rma=str(row["rma"]),
        order_number=str(row["order_number"]),
        serial_number=str(row["serial_number"]),
        product=str(row["product"]),
        caller=str(row["caller"]),
        reason=ReturnReason(row["reason"]),
        status=ReturnStatus(row["status"]),
        language=str(row["language"]),
        started_on=date.fromisoformat(str(row["started_on"])),
        created_at=float(row["created_at"]),
    )


class SqlReturns:
    def __init__(self, sql: Sql, *, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def of_order(self, order_number: str) -> list[ReturnRecord]:
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM returns WHERE order_number = $1 ORDER BY created_at", order_number
        )
        return [_record(row) for row in rows]

    async def latest_for(self, caller: str) -> ReturnRecord | None:
        if not caller:
            return None
        row = await self.sql.fetchone(
            f"SELECT {_COLUMNS} FROM returns WHERE caller = $1 ORDER BY created_at DESC, rma DESC LIMIT 1",
            caller,
        )
        return _record(row) if row else None

    async def products_of(self, order_number: str, language: str = "") -> list[tuple[str, str]]:
        rows = await self.sql.fetch(
            "SELECT serial_number, product, product_names FROM warranties WHERE order_number = $1"
            " ORDER BY serial_number",
            order_number,
        )
        return [
            (
                str(row["serial_number"]),
                product_in(str(row["product"]), names_from(row["product_names"]), language),
            )
            for row in rows
        ]

    async def recent(self, limit: int = 200) -> list[ReturnRecord]:
        """The newest returns first, for the console's Returns list."""
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM returns ORDER BY created_at DESC, rma DESC LIMIT $1", limit
        )
        return [_record(row) for row in rows]

    async def start(
        self,
        order_number: str,
        serial_number: str,
        product: str,
        caller: str,
        reason: ReturnReason,
        language: str,
        started_on: date,
    ) -> ReturnRecord | None:
        tries = 0
        while True:
            row = await self.sql.fetchone(_NEXT)
            now = self.clock()
            record = ReturnRecord(
                str(row["rma"]) if row else str(FIRST_RMA),
                order_number,
                serial_number,
                product,
                caller,
                reason,
                ReturnStatus.STARTED,
                language,
                started_on,
                now,
            )
            try:
                await self.sql.atomic([Statement(_INSERT, _values(record), expect_rows=1), _started(record)])
            except Conflict:  # that product has a return already
                return None
            except Exception as exc:  # the same next number taken by another call: take the one after
                tries += 1
                if tries < MAX_TRIES and any(name in str(exc) for name in _TAKEN):
                    continue
                raise
            return record


def _values(record: ReturnRecord) -> tuple[str | float, ...]:
    return (
        record.rma,
        record.order_number,
        record.serial_number,
        record.product,
        record.caller,
        record.reason.value,
        record.status.value,
        record.language,
        record.started_on.isoformat(),
        record.created_at,
    )


def _started(record: ReturnRecord) -> Statement:
    """The `return.started` event, written with the return."""
    return event(
        EventType.RETURN_STARTED,
        record.rma,
        {
            "rma": record.rma,
            "order_number": record.order_number,
            "serial_number": record.serial_number,
            "product": record.product,
            "number": record.caller,
            "reason": record.reason.value,
            "language": record.language,
            "started_on": record.started_on.isoformat(),
        },
        record.created_at,
    )
