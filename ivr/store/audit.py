"""Who changed what, when: the audit log that consoles, the CLI and stores write to.

Kept apart from accounts because stores below the consoles (flow versions, the agent desk)
write entries in the same transaction as their own change.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from ivr.store.sql import Sql


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    """e.g. `publish`, `rollback`, `account.create`."""
    subject: str
    detail: str
    """Free text or JSON: for flows, the diff that was published."""


class AuditLog:
    """Who changed what, when; written in the same transaction as the change where it matters."""

    def __init__(self, sql: Sql, *, clock: Any = time.time) -> None:
        self.sql = sql
        self.clock = clock

    INSERT = "INSERT INTO audit_log (id, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)"

    def entry_args(self, actor: str, action: str, subject: str, detail: str) -> tuple[Any, ...]:
        """Arguments for `INSERT`, so a store can add the entry to its own `atomic` batch."""
        return (secrets.token_hex(8), float(self.clock()), actor, action, subject, detail)

    async def record(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        await self.sql.execute(self.INSERT, *self.entry_args(actor, action, subject, detail))

    async def recent(self, limit: int = 100, *, subject: str | None = None) -> list[AuditEntry]:
        if subject is None:
            rows = await self.sql.fetch(
                "SELECT at, actor, action, subject, detail FROM audit_log ORDER BY at DESC LIMIT $1", limit
            )
        else:
            rows = await self.sql.fetch(
                "SELECT at, actor, action, subject, detail FROM audit_log WHERE subject = $2"
                " ORDER BY at DESC LIMIT $1",
                limit,
                subject,
            )
        return [AuditEntry(**row) for row in rows]
