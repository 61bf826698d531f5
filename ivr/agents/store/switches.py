"""Line switches a supervisor flips, stored in `line_switches` (today: the emergency closure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ivr.store.sql import Sql, Statement

EMERGENCY = "emergency_closed"


class SwitchStore(Protocol):
    async def is_on(self, name: str) -> bool:
        """A switch never set is off."""
        ...

    def turn(self, name: str, on: bool, by: str) -> Statement:
        """Set a switch (run in the same batch as its audit entry)."""
        ...


class SqlSwitchStore:
    """`SwitchStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    async def is_on(self, name: str) -> bool:
        row = await self.sql.fetchone("SELECT is_on FROM line_switches WHERE name = $1", name)
        return bool(row and row["is_on"])

    def turn(self, name: str, on: bool, by: str) -> Statement:
        return Statement(
            "INSERT INTO line_switches (name, is_on, changed_at, changed_by) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO UPDATE SET is_on = $2, changed_at = $3, changed_by = $4",
            (name, int(on), self.clock(), by),
        )
