"""The `Repository` the flows read: each kind from its source, the rest from the local tables.

The flow engine and its actions see only `Repository`, so a lookup over HTTP changes
nothing in them but one possible exception, `SourceUnavailable`, which they turn into
the honest sentence and an agent. Counts (the lookup limits) and imports always stay in
the line's own database: they are the line's records, not the company's.

A kind served over HTTP never falls back to the local tables when its source fails:
those hold what was last imported, and reading a stale status as if it were today's is
the very thing the sources exist to stop. For the same reason, when orders (or repairs)
come from HTTP but the file has no `customers` lookup for them, a caller's number finds
none of them: the greeting is the plain one rather than one built on old rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import PurePath

from ivr.records import Order, Repair, Warranty
from ivr.sources.client import HttpSources
from ivr.store.base import Repository


class SourcedRepository:
    """`Repository` over `HttpSources` for the kinds it serves, `local` for the others."""

    def __init__(self, local: Repository, sources: HttpSources) -> None:
        self.local = local
        self.sources = sources

    def source_of(self, kind: str) -> str:
        """The sources file's name (`shopify` for sources/shopify.yaml) for a kind it serves;
        `nobody` for a caller's records of a kind it serves without a `customers` lookup."""
        if self.sources.serves(kind):
            return PurePath(self.sources.spec.source).stem
        if kind.startswith("customers.") and self.sources.serves(kind.removeprefix("customers.")):
            return "nobody"
        return "local"

    async def order(self, order_number: str) -> Order | None:
        if not self.sources.serves("orders"):
            return await self.local.order(order_number)
        record = await self.sources.one("orders", order_number)
        return record if isinstance(record, Order) else None

    async def warranty(self, serial_number: str) -> Warranty | None:
        if not self.sources.serves("warranties"):
            return await self.local.warranty(serial_number)
        record = await self.sources.one("warranties", serial_number)
        return record if isinstance(record, Warranty) else None

    async def repair(self, ticket_number: str) -> Repair | None:
        if not self.sources.serves("repairs"):
            return await self.local.repair(ticket_number)
        record = await self.sources.one("repairs", ticket_number)
        return record if isinstance(record, Repair) else None

    async def orders_of(self, phone: str) -> Sequence[Order]:
        if self.sources.serves("customers.orders"):
            return [r for r in await self.sources.records("customers.orders", phone) if isinstance(r, Order)]
        if self.sources.serves("orders"):
            return []
        return await self.local.orders_of(phone)

    async def repairs_of(self, phone: str) -> Sequence[Repair]:
        if self.sources.serves("customers.repairs"):
            found = await self.sources.records("customers.repairs", phone)
            return [r for r in found if isinstance(r, Repair)]
        if self.sources.serves("repairs"):
            return []
        return await self.local.repairs_of(phone)

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        return await self.local.upsert(records)

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        return await self.local.count(caller, kind, day, add)
