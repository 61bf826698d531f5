"""Returns the line started for callers: one row per returned product, with its return number.

A return is the one thing the line *writes* about an order, so two rules are kept in SQL,
where every instance sees them: a product is returned once (a unique key on the order and
the product's serial number, so two calls racing, or a retried webhook, cannot open a second
return), and return numbers (RMAs) are short digits a caller can key in or read out, handed
out in order in the same statement that files the return. One table, both dialects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from ivr.records import names_from, product_in
from ivr.store.sql import Row, Sql, Statement

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
_INSERT = (
    f"INSERT INTO returns ({_COLUMNS})"
    f" SELECT CAST(COALESCE(MAX(CAST(rma AS bigint)) + 1, {FIRST_RMA}) AS text),"
    " CAST($1 AS text), CAST($2 AS text), CAST($3 AS text), CAST($4 AS text), CAST($5 AS text),"
    " CAST($6 AS text), CAST($7 AS text), CAST($8 AS text),"
    " CAST($9 AS double precision)"
    " FROM returns WHERE true ON CONFLICT (order_number, serial_number) DO NOTHING"
    f" RETURNING {_COLUMNS}"
)
"""The next number and the row in one statement; a product already returned inserts nothing."""
MAX_TRIES = 5
"""Two instances taking the same next number at once: the loser's primary key fails and it
takes the number after (PostgreSQL; SQLite writes one at a time)."""


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
        args = (order_number, serial_number, product, caller, reason.value, ReturnStatus.STARTED.value)
        tries = 0
        while True:
            try:
                done = await self.sql.atomic(
                    [Statement(_INSERT, (*args, language, started_on.isoformat(), self.clock()))]
                )
            except Exception as exc:  # the same next number taken by another instance: take the one after
                tries += 1
                if tries < MAX_TRIES and "returns_pkey" in str(exc):
                    continue
                raise
            rows = done[0]
            return _record(rows[0]) if rows else None
