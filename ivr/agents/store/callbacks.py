"""Callbacks: customers who asked to be called back, stored in `callbacks`.

The desk lists the open ones and routing asks for the due retries on every round, so both
are filtered and ordered in SQL (indexes `callbacks_open` and `callbacks_state`), never by
reading every callback ever requested. How many attempts and how long to back off is the
desk's policy; this store only records what it decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ivr.agents.model import OPEN_CALLBACK, Callback, CallbackState, QueueEntry
from ivr.agents.routing import Waiting, topic_of
from ivr.agents.store.encoding import decode_context, encode_context
from ivr.store.sql import Row, Sql, Statement

_COLUMNS = (
    "id, call_sid, number, reason, context, skill, requested_at, state, attempts, next_attempt_at,"
    " agent, last_error, done_by"
)
_OPEN = ", ".join(f"'{state.value}'" for state in OPEN_CALLBACK)


class CallbackStore(Protocol):
    def add(self, callback_id: str, entry: QueueEntry) -> Statement:
        """A pending callback to the caller of a queue entry, with its reason and context."""
        ...

    async def get(self, callback_id: str) -> Callback | None: ...

    async def for_call(self, call_sid: str) -> Callback | None: ...

    async def listed(self, *, include_done: bool) -> list[Callback]:
        """Open callbacks (failed ones too: a person decides), or all, oldest request first."""
        ...

    async def due(self) -> list[Waiting]:
        """Retries whose time has come, as routing sees them, the longest due first."""
        ...

    def offer(self, callback_id: str, agent: str) -> Statement:
        """Claim a callback nobody works on for an offer to `agent` (one row, or the batch is rolled back)."""
        ...

    def put_back(self, callback_id: str) -> Statement:
        """An offer fell through: pending again (or a retry, if the customer was tried before)."""
        ...

    def calling(self, callback_id: str, customer_call_sid: str) -> Statement: ...

    async def answered(self, callback_id: str) -> bool:
        """The customer picked up: True if the callback was calling them."""
        ...

    async def finish(self, callback_id: str) -> bool:
        """The connected call ended."""
        ...

    async def attempt_failed(
        self, callback: Callback, *, state: CallbackState, next_attempt_at: float, why: str
    ) -> bool:
        """One more failed attempt; False if another attempt was counted since `callback` was read."""
        ...

    async def mark_done(self, callback_id: str, username: str) -> bool: ...


class SqlCallbackStore:
    """`CallbackStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    def add(self, callback_id: str, entry: QueueEntry) -> Statement:
        return Statement(
            f"INSERT INTO callbacks ({_COLUMNS}, customer_call_sid, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $7, '', '', '', '', $7)",
            (
                callback_id,
                entry.call_sid,
                entry.caller,
                entry.reason,
                encode_context(entry.context),
                entry.skill,
                self.clock(),
            ),
        )

    async def get(self, callback_id: str) -> Callback | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM callbacks WHERE id = $1", callback_id)
        return _callback(row) if row else None

    async def for_call(self, call_sid: str) -> Callback | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM callbacks WHERE call_sid = $1", call_sid)
        return _callback(row) if row else None

    async def listed(self, *, include_done: bool) -> list[Callback]:
        where = "" if include_done else f" WHERE state IN ({_OPEN})"
        # Service-recovery callbacks (an unhappy customer after a campaign call) come first.
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM callbacks{where}"
            " ORDER BY CASE WHEN reason = 'service_recovery' THEN 0 ELSE 1 END, requested_at, id"
        )
        return [_callback(r) for r in rows]

    async def due(self) -> list[Waiting]:
        rows = await self.sql.fetch(
            "SELECT id, skill, context, next_attempt_at FROM callbacks"
            " WHERE state = 'retry' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id",
            self.clock(),
        )
        return [
            Waiting(
                r["id"], r["skill"], 0, r["next_attempt_at"], topic=topic_of(decode_context(r["context"]))
            )
            for r in rows
        ]

    def offer(self, callback_id: str, agent: str) -> Statement:
        return Statement(
            "UPDATE callbacks SET state = 'offered', agent = $2, updated_at = $3"
            " WHERE id = $1 AND state IN ('pending', 'retry', 'failed')",
            (callback_id, agent, self.clock()),
            expect_rows=1,
        )

    def put_back(self, callback_id: str) -> Statement:
        return Statement(
            "UPDATE callbacks SET state = CASE WHEN attempts > 0 THEN 'retry' ELSE 'pending' END,"
            " agent = '', updated_at = $2 WHERE id = $1 AND state = 'offered'",
            (callback_id, self.clock()),
        )

    def calling(self, callback_id: str, customer_call_sid: str) -> Statement:
        return Statement(
            "UPDATE callbacks SET state = 'calling', customer_call_sid = $2, updated_at = $3 WHERE id = $1",
            (callback_id, customer_call_sid, self.clock()),
        )

    async def answered(self, callback_id: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE callbacks SET state = 'connected', updated_at = $2 WHERE id = $1 AND state = 'calling'",
            callback_id,
            self.clock(),
        )
        return changed == 1

    async def finish(self, callback_id: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE callbacks SET state = 'done', updated_at = $2 WHERE id = $1 AND state = 'connected'",
            callback_id,
            self.clock(),
        )
        return changed == 1

    async def attempt_failed(
        self, callback: Callback, *, state: CallbackState, next_attempt_at: float, why: str
    ) -> bool:
        changed = await self.sql.execute(
            "UPDATE callbacks SET state = $2, attempts = attempts + 1, next_attempt_at = $3, last_error = $4,"
            " agent = '', updated_at = $5 WHERE id = $1 AND attempts = $6",
            callback.id,
            state.value,
            next_attempt_at,
            why,
            self.clock(),
            callback.attempts,
        )
        return changed == 1

    async def mark_done(self, callback_id: str, username: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE callbacks SET state = 'done', done_by = $2, updated_at = $3 WHERE id = $1",
            callback_id,
            username,
            self.clock(),
        )
        return changed == 1


def _callback(row: Row) -> Callback:
    return Callback(
        id=row["id"],
        call_sid=row["call_sid"],
        number=row["number"],
        reason=row["reason"],
        context=decode_context(row["context"]),
        skill=row["skill"],
        requested_at=row["requested_at"],
        state=CallbackState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        agent=row["agent"],
        last_error=row["last_error"],
        done_by=row["done_by"],
    )
