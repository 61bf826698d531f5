"""Agents' statuses, stored in `agent_states` (their accounts are `ivr.store.accounts`').

Agents set themselves available, busy or offline; the desk alone moves them to `ringing`
(claimed together with an offer, so an agent rings for one offer at a time) and `on_call`,
and back. An agent ringing or on a call cannot change their own status: that ends by itself.
When it ends they go back to the status they had when it rang (`resume_status`): an agent who
took a caller while busy is busy again, not offered the next caller at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ivr.agents.model import AgentStatus, Presence
from ivr.store.sql import Row, Sql, Statement

_COLUMNS = "username, status, idle_since, with_call, offer_id, missed_at"


class AgentStateStore(Protocol):
    async def all(self) -> dict[str, Presence]:
        """Every agent who ever set a status, by username."""
        ...

    async def get(self, username: str) -> Presence | None: ...

    async def available(self) -> list[Presence]:
        """Agents free for an offer, the longest idle first."""
        ...

    async def set(self, username: str, status: AgentStatus) -> bool:
        """An agent's own change; False while they are ringing or on a call. Staying available
        keeps their idle time (routing prefers whoever has waited longest)."""
        ...

    def ring(self, username: str, offer_id: str, with_call: str) -> Statement:
        """Claim a free (available or busy) agent for an offer (one row, or the batch is rolled back)."""
        ...

    def on_call(self, username: str, with_call: str | None = None) -> Statement:
        """The agent is bridged; `with_call` replaces the call they are with (a callback's customer)."""
        ...

    def release(
        self,
        username: str,
        offer_id: str,
        status: AgentStatus | None,
        *,
        idle_from_now: bool,
        missed: bool = False,
    ) -> Statement:
        """The offer is over: the agent leaves it (only if still on it) with `status`, or with
        the status they had when it rang when `status` is None; `missed` notes when (the desk
        tells the agent why their status changed)."""
        ...


class SqlAgentStateStore:
    """`AgentStateStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    async def all(self) -> dict[str, Presence]:
        rows = await self.sql.fetch(f"SELECT {_COLUMNS} FROM agent_states")
        return {r["username"]: _presence(r) for r in rows}

    async def get(self, username: str) -> Presence | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM agent_states WHERE username = $1", username)
        return _presence(row) if row else None

    async def available(self) -> list[Presence]:
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM agent_states WHERE status = 'available' ORDER BY idle_since, username"
        )
        return [_presence(r) for r in rows]

    async def set(self, username: str, status: AgentStatus) -> bool:
        idle = "CASE WHEN agent_states.status = 'available' THEN agent_states.idle_since ELSE $3 END"
        changed = await self.sql.execute(
            "INSERT INTO agent_states (username, status, idle_since, with_call, offer_id, updated_at)"
            " VALUES ($1, $2, $3, '', '', $3) ON CONFLICT (username) DO UPDATE SET status = $2,"
            f" idle_since = {idle}, updated_at = $3, missed_at = 0"
            " WHERE agent_states.status NOT IN ('ringing', 'on_call')",
            username,
            status.value,
            self.clock(),
        )
        return changed == 1

    def ring(self, username: str, offer_id: str, with_call: str) -> Statement:
        return Statement(
            "UPDATE agent_states SET status = 'ringing', resume_status = status, offer_id = $2,"
            " with_call = $3, updated_at = $4 WHERE username = $1 AND status IN ('available', 'busy')",
            (username, offer_id, with_call, self.clock()),
            expect_rows=1,
        )

    def on_call(self, username: str, with_call: str | None = None) -> Statement:
        if with_call is None:
            return Statement(
                "UPDATE agent_states SET status = 'on_call', updated_at = $2 WHERE username = $1",
                (username, self.clock()),
            )
        return Statement(
            "UPDATE agent_states SET status = 'on_call', with_call = $2, updated_at = $3 WHERE username = $1",
            (username, with_call, self.clock()),
        )

    def release(
        self,
        username: str,
        offer_id: str,
        status: AgentStatus | None,
        *,
        idle_from_now: bool,
        missed: bool = False,
    ) -> Statement:
        return Statement(
            "UPDATE agent_states SET status = CASE WHEN $2 = '' THEN resume_status ELSE $2 END,"
            " offer_id = '', with_call = '', updated_at = $3,"
            " idle_since = CASE WHEN $4 = 1 THEN $3 ELSE idle_since END,"
            " missed_at = CASE WHEN $6 = 1 THEN $3 ELSE missed_at END"
            " WHERE username = $1 AND offer_id = $5",
            (
                username,
                status.value if status else "",
                self.clock(),
                int(idle_from_now),
                offer_id,
                int(missed),
            ),
        )


def _presence(row: Row) -> Presence:
    return Presence(
        username=row["username"],
        status=AgentStatus(row["status"]),
        idle_since=row["idle_since"],
        on_call_with=row["with_call"],
        offer_id=row["offer_id"],
        missed_at=row["missed_at"],
    )
