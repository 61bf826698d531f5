"""The events outbox: what the line tells the company, kept until the company's endpoint took it.

An event is written by `event()`, a statement the business code adds to the transaction that
writes its own record (a callback, a return, a survey answer): both are kept or neither is,
so an event is never announced for a record that was rolled back, nor lost for one that was
kept. Delivering is `ivr.deliveries`' job; this store only keeps the state of each event:

- `pending`: waiting for its next attempt (`next_at`); an instance that claims it holds a
  lease (`lease_until`, `claimed_by`) so no other instance sends it meanwhile, and one that
  dies mid-attempt leaves a lease that simply runs out;
- `delivered`: the endpoint answered 2xx; kept a week for an operator's look, then purged
  (`skipped` likewise: no URL took its kind, as on a line that configured none);
- `dead`: still refused at `give_up_at` (a day after it was written): a dead letter a
  supervisor sees on the console and may send again (`retry`, audited).

One table, one text for SQLite and PostgreSQL. A claim is one conditional UPDATE whose outer
WHERE re-checks the lease, so two instances claiming at once never both get a row (PostgreSQL
re-reads a row it waited for; SQLite writes one at a time).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ivr.events import EventType, JsonValue, event_body, event_id
from ivr.store.audit import AuditLog
from ivr.store.sql import Conflict, Row, Sql, Statement

RETRY_HORIZON = 24 * 3600.0
"""Seconds an event is retried before it becomes a dead letter (and again after a supervisor's retry)."""
KEEP_DELIVERED = 7 * 24 * 3600.0
"""Seconds a delivered event is kept (the receiver has it; the body holds a customer's number)."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"
    """No URL took its kind when it was due (none configured): let go, kept a week like a delivered one."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    type: EventType
    body: str
    """The JSON the receiver gets, byte for byte what was signed."""
    created_at: float
    state: DeliveryState
    attempts: int
    next_at: float
    give_up_at: float
    last_error: str
    """Why the last attempt failed ("HTTP 503", "timed out", "connection refused"); "" if none."""
    done_at: float
    """When it was delivered or given up (0 while pending)."""


_COLUMNS = "id, type, body, created_at, state, attempts, next_at, give_up_at, last_error, done_at"
_INSERT = (
    "INSERT INTO event_outbox (id, type, body, created_at, state, attempts, next_at, give_up_at,"
    " lease_until, claimed_by, last_error, done_at)"
    " VALUES ($1, $2, $3, $4, 'pending', 0, $4, $5, 0, '', '', 0) ON CONFLICT (id) DO NOTHING"
)


def event(kind: EventType, key: str, data: Mapping[str, JsonValue], now: float) -> Statement:
    """Record this event: a statement for the transaction that writes the record it is about.

    `key` names what it is about (a callback's id, a return's number): the same fact recorded
    twice (a retried webhook) is one event. Written whether or not a URL takes this kind now:
    what to send where is read when it is sent."""
    ident = event_id(kind, key)
    return Statement(
        _INSERT, (ident, kind.value, event_body(ident, kind, now, data), now, now + RETRY_HORIZON)
    )


async def record_event(
    sql: Sql, kind: EventType, key: str, data: Mapping[str, JsonValue], now: float
) -> None:
    """Record an event that has no record of its own to share a transaction with (a text sent)."""
    await sql.atomic([event(kind, key, data, now)])


def _event(row: Row) -> OutboxEvent:
    return OutboxEvent(
        id=str(row["id"]),
        type=EventType(row["type"]),
        body=str(row["body"]),
        created_at=float(row["created_at"]),
        state=DeliveryState(row["state"]),
        attempts=int(row["attempts"]),
        next_at=float(row["next_at"]),
        give_up_at=float(row["give_up_at"]),
        last_error=str(row["last_error"]),
        done_at=float(row["done_at"]),
    )


def worker_name() -> str:
    """A name for one delivery worker's claims, unique across instances and restarts."""
    return secrets.token_hex(8)


class EventOutbox:
    """The outbox's rows over `Sql`: claims for the delivery workers, dead letters for the console."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def claim(self, worker: str, now: float, lease: float, limit: int) -> list[OutboxEvent]:
        """Pending events due by `now` that no live lease holds, leased to `worker` until `now + lease`."""
        rows = await self.sql.fetch(
            "UPDATE event_outbox SET lease_until = $2, claimed_by = $3"
            " WHERE id IN (SELECT id FROM event_outbox WHERE state = 'pending' AND next_at <= $1"
            " AND lease_until <= $1 ORDER BY next_at, id LIMIT $4)"
            f" AND state = 'pending' AND lease_until <= $1 RETURNING {_COLUMNS}",
            now,
            now + lease,
            worker,
            limit,
        )
        return sorted((_event(row) for row in rows), key=lambda e: (e.next_at, e.id))

    async def delivered(self, ident: str, worker: str, now: float) -> bool:
        """The endpoint took it; False if `worker`'s lease was lost meanwhile (nothing changed)."""
        return await self._finish(
            "state = 'delivered', attempts = attempts + 1, done_at = $3, last_error = ''", ident, worker, now
        )

    async def skipped(self, ident: str, worker: str, now: float) -> bool:
        """Nobody takes this kind of event: let go."""
        return await self._finish("state = 'skipped', done_at = $3", ident, worker, now)

    async def failed(self, ident: str, worker: str, next_at: float, error: str) -> bool:
        """One more refused attempt; the next at `next_at`."""
        return await self._finish(
            "attempts = attempts + 1, next_at = $3, last_error = $4", ident, worker, next_at, error
        )

    async def dead(self, ident: str, worker: str, now: float, error: str) -> bool:
        """Refused past its horizon: a dead letter for the console."""
        return await self._finish(
            "state = 'dead', attempts = attempts + 1, done_at = $3, last_error = $4",
            ident,
            worker,
            now,
            error,
        )

    async def _finish(self, changes: str, ident: str, worker: str, *args: object) -> bool:
        changed = await self.sql.execute(
            f"UPDATE event_outbox SET {changes}, lease_until = 0, claimed_by = ''"
            " WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
            ident,
            worker,
            *args,
        )
        return changed == 1

    async def get(self, ident: str) -> OutboxEvent | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM event_outbox WHERE id = $1", ident)
        return _event(row) if row else None

    async def dead_letters(self, limit: int = 200) -> list[OutboxEvent]:
        """The newest dead letters first."""
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM event_outbox WHERE state = 'dead' ORDER BY done_at DESC, id LIMIT $1",
            limit,
        )
        return [_event(row) for row in rows]

    async def counts(self) -> dict[DeliveryState, int]:
        """Events in each state (the console's summary line)."""
        rows = await self.sql.fetch("SELECT state, count(*) AS n FROM event_outbox GROUP BY state")
        found = {DeliveryState(row["state"]): int(row["n"]) for row in rows}
        return {state: found.get(state, 0) for state in DeliveryState}

    async def retry(self, ident: str, actor: str, now: float, audit: AuditLog) -> bool:
        """A supervisor sends a dead letter again: pending now, retried for another day, audited
        in the same transaction. False if it is not a dead letter (any more)."""
        try:
            done = await self.sql.atomic(
                [
                    Statement(
                        "UPDATE event_outbox SET state = 'pending', next_at = $2, give_up_at = $3,"
                        " done_at = 0, lease_until = 0, claimed_by = '' WHERE id = $1 AND state = 'dead'"
                        " RETURNING type",
                        (ident, now, now + RETRY_HORIZON),
                        expect_rows=1,
                    ),
                    Statement(AuditLog.INSERT, audit.entry_args(actor, "event.retry", ident, "")),
                ]
            )
        except Conflict:  # not a dead letter: retried by someone else meanwhile, or unknown
            return False
        return bool(done[0])

    async def purge_delivered(self, before: float) -> int:
        """Forget events delivered (or let go) before `before`: their receivers have them."""
        return await self.sql.execute(
            "DELETE FROM event_outbox WHERE state IN ('delivered', 'skipped') AND done_at < $1", before
        )
