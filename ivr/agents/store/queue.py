"""The queue of callers waiting for an agent, stored in `queue_entries`.

Queue order is `routing.order`'s, written in SQL: callers put back after an offer fell
through first (`priority`), then by when they were queued, then by id. A caller's position
is counted in the database (how many live entries are ahead), so asking "where am I?" on
every loop of the wait music reads one row and one index, however long the queue.

Changes that must land together with an agent's or an offer's (claiming an entry for an
offer, bridging it, putting it back) are returned as `Statement`s for the desk to run in one
`atomic` batch; their `WHERE state = …` guards make a late or duplicated webhook change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Protocol

from ivr.agents.model import DeskError, DeskErrorCode, EntryState, QueueEntry
from ivr.agents.routing import Waiting, topic_of
from ivr.agents.store.encoding import decode_context, encode_context, new_id
from ivr.store.sql import Row, Sql, Statement

_COLUMNS = (
    "id, call_sid, caller, reason, context, skill, enqueued_at, priority, state, offered_to, declined_by"
)
_LIVE = "state IN ('waiting', 'offered')"
_ORDER = "priority DESC, enqueued_at, id"
_AHEAD = (
    "SELECT COUNT(*) FROM queue_entries a WHERE a.state IN ('waiting', 'offered') AND"
    " (a.priority > e.priority OR (a.priority = e.priority AND (a.enqueued_at < e.enqueued_at"
    " OR (a.enqueued_at = e.enqueued_at AND a.id < e.id))))"
)
_POSITION = f"CASE WHEN e.state IN ('waiting', 'offered') THEN ({_AHEAD}) + 1 END AS position"
"""1 for the next caller, NULL for an entry that no longer waits (same order as `_ORDER`)."""


class QueueStore(Protocol):
    async def add(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str], skill: str
    ) -> QueueEntry:
        """Queue a call; a duplicate delivery (same CallSid) returns the entry already there."""
        ...

    async def get(self, entry_id: str) -> QueueEntry | None: ...

    async def for_call(self, call_sid: str) -> QueueEntry | None: ...

    async def live(self) -> list[QueueEntry]:
        """Entries waiting or being offered, in queue order, numbered from 1."""
        ...

    async def waiting(self) -> list[Waiting]:
        """Entries nobody is being offered, as routing sees them, in queue order."""
        ...

    async def recent_waits(self, since: float, limit: int) -> list[float]:
        """How long the latest callers bridged after `since` waited, newest first."""
        ...

    async def leave(self, entry_id: str, state: EntryState) -> bool:
        """A waiting caller chose a way out (`VOICEMAIL`); False if they were no longer waiting."""
        ...

    async def abandon(self, entry_id: str, *, only_live: bool) -> bool:
        """The caller is gone: only from waiting or offered, or (`only_live=False`) whatever the state."""
        ...

    async def finish(self, entry_id: str) -> bool:
        """A bridged call ended."""
        ...

    def to_callback(self, entry_id: str) -> Statement:
        """A waiting caller becomes a callback (one row changes, or the batch is rolled back)."""
        ...

    def offer(self, entry_id: str, agent: str) -> Statement:
        """Claim a waiting entry for an offer to `agent` (one row, or the batch is rolled back)."""
        ...

    def bridge(self, entry_id: str, agent: str) -> Statement: ...

    async def put_back(self, entry_id: str, *, declined_by: str | None) -> Statement:
        """An offer fell through: back to the head of the queue; `declined_by` is not offered it again."""
        ...


class SqlQueueStore:
    """`QueueStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    async def add(
        self, call_sid: str, caller: str, reason: str, context: Mapping[str, str], skill: str
    ) -> QueueEntry:
        now = self.clock()
        await self.sql.execute(
            f"INSERT INTO queue_entries ({_COLUMNS}, agent, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'waiting', '', '[]', '', $7)"
            " ON CONFLICT (call_sid) DO NOTHING",
            new_id(),
            call_sid,
            caller,
            reason,
            encode_context(context),
            skill,
            now,
        )
        entry = await self.for_call(call_sid)
        if entry is None:  # nothing deletes queue entries; say so plainly rather than assert
            raise DeskError(DeskErrorCode.NOT_FOUND, f"the queue entry of call {call_sid} is missing")
        return entry

    async def get(self, entry_id: str) -> QueueEntry | None:
        row = await self.sql.fetchone(self._select("e.id = $1"), entry_id)
        return self._entry(row) if row else None

    async def for_call(self, call_sid: str) -> QueueEntry | None:
        row = await self.sql.fetchone(self._select("e.call_sid = $1"), call_sid)
        return self._entry(row) if row else None

    @staticmethod
    def _select(where: str) -> str:
        columns = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        return f"SELECT {columns}, {_POSITION} FROM queue_entries e WHERE {where}"

    async def live(self) -> list[QueueEntry]:
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS}, ROW_NUMBER() OVER (ORDER BY {_ORDER}) AS position"
            f" FROM queue_entries WHERE {_LIVE} ORDER BY {_ORDER}"
        )
        return [self._entry(r) for r in rows]

    async def waiting(self) -> list[Waiting]:
        rows = await self.sql.fetch(
            "SELECT id, skill, priority, enqueued_at, declined_by, context FROM queue_entries"
            f" WHERE state = 'waiting' ORDER BY {_ORDER}"
        )
        return [
            Waiting(
                r["id"],
                r["skill"],
                r["priority"],
                r["enqueued_at"],
                frozenset(json.loads(r["declined_by"])),
                topic_of(decode_context(r["context"])),
            )
            for r in rows
        ]

    async def recent_waits(self, since: float, limit: int) -> list[float]:
        rows = await self.sql.fetch(
            "SELECT bridged_at - enqueued_at AS waited FROM queue_entries WHERE bridged_at IS NOT NULL"
            " AND bridged_at > $1 ORDER BY bridged_at DESC LIMIT $2",
            since,
            limit,
        )
        return [float(r["waited"]) for r in rows]

    async def leave(self, entry_id: str, state: EntryState) -> bool:
        changed = await self.sql.execute(
            "UPDATE queue_entries SET state = $2, ended_at = $3, updated_at = $3"
            " WHERE id = $1 AND state = 'waiting'",
            entry_id,
            state.value,
            self.clock(),
        )
        return changed == 1

    async def abandon(self, entry_id: str, *, only_live: bool) -> bool:
        guard = f" AND {_LIVE}" if only_live else ""
        changed = await self.sql.execute(
            "UPDATE queue_entries SET state = 'abandoned', ended_at = $2, updated_at = $2"
            f" WHERE id = $1{guard}",
            entry_id,
            self.clock(),
        )
        return changed == 1

    async def finish(self, entry_id: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE queue_entries SET state = 'done', ended_at = $2, updated_at = $2"
            " WHERE id = $1 AND state = 'bridged'",
            entry_id,
            self.clock(),
        )
        return changed == 1

    def to_callback(self, entry_id: str) -> Statement:
        return Statement(
            "UPDATE queue_entries SET state = 'callback', ended_at = $2, updated_at = $2"
            " WHERE id = $1 AND state = 'waiting'",
            (entry_id, self.clock()),
            expect_rows=1,
        )

    def offer(self, entry_id: str, agent: str) -> Statement:
        return Statement(
            "UPDATE queue_entries SET state = 'offered', offered_to = $2, updated_at = $3"
            " WHERE id = $1 AND state = 'waiting'",
            (entry_id, agent, self.clock()),
            expect_rows=1,
        )

    def bridge(self, entry_id: str, agent: str) -> Statement:
        return Statement(
            "UPDATE queue_entries SET state = 'bridged', agent = $2, bridged_at = $3, updated_at = $3"
            " WHERE id = $1",
            (entry_id, agent, self.clock()),
        )

    async def put_back(self, entry_id: str, *, declined_by: str | None) -> Statement:
        declined = "declined_by"
        args: tuple[object, ...] = (entry_id, self.clock())
        if declined_by is not None:
            row = await self.sql.fetchone("SELECT declined_by FROM queue_entries WHERE id = $1", entry_id)
            names = set(json.loads(row["declined_by"])) if row else set()
            declined, args = "$3", (*args, json.dumps(sorted(names | {declined_by})))
        return Statement(
            "UPDATE queue_entries SET state = 'waiting', priority = 1, offered_to = '', updated_at = $2,"
            f" declined_by = {declined} WHERE id = $1 AND state = 'offered'",
            args,
        )

    def _entry(self, row: Row) -> QueueEntry:
        position = row["position"]
        return QueueEntry(
            id=row["id"],
            call_sid=row["call_sid"],
            caller=row["caller"],
            reason=row["reason"],
            context=decode_context(row["context"]),
            skill=row["skill"],
            enqueued_at=row["enqueued_at"],
            waiting_seconds=max(0.0, self.clock() - row["enqueued_at"]),
            position=int(position) if position is not None else None,
            state=EntryState(row["state"]),
            offered_to=row["offered_to"],
            priority=row["priority"],
            declined_by=tuple(json.loads(row["declined_by"])),
        )
