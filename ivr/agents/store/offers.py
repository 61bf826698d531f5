"""Offers: an agent's phone ringing with one caller or callback, stored in `agent_offers`.

An offer is made in the same batch that claims its subject and the agent (see the desk), so
there is at most one per subject at a time. From `ringing` it is taken once (`accepted`) or
settled once (`declined`, `missed`); `ended` closes an accepted one. Every change is guarded
by the state it leaves, so a second press of 1 or a duplicated status callback changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ivr.agents.model import Offer, OfferKind, OfferState
from ivr.store.sql import Sql, Statement


class OfferStore(Protocol):
    async def get(self, offer_id: str) -> Offer | None: ...

    def add(self, offer_id: str, kind: OfferKind, subject: str, agent: str) -> Statement:
        """A new ringing offer (run with the claims on its subject and agent)."""
        ...

    async def ringing_on(self, offer_id: str, agent_call_sid: str) -> None:
        """Keep the CallSid of the agent's leg the offer rings on."""
        ...

    async def accept(self, offer_id: str) -> bool:
        """The agent pressed 1: True for the first press on a ringing offer, False otherwise."""
        ...

    def settle(self, offer_id: str, state: OfferState) -> Statement:
        """A ringing or accepted offer is over (one row changes, or the batch is rolled back)."""
        ...

    async def accepted_call(self, subject: str) -> str:
        """The agent's CallSid on the accepted offer for this subject; empty if there is none."""
        ...


class SqlOfferStore:
    """`OfferStore` over `Sql` (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float]) -> None:
        self.sql = sql
        self.clock = clock

    async def get(self, offer_id: str) -> Offer | None:
        row = await self.sql.fetchone(
            "SELECT id, kind, subject, agent, agent_call_sid, state FROM agent_offers WHERE id = $1", offer_id
        )
        if row is None:
            return None
        return Offer(
            row["id"],
            OfferKind(row["kind"]),
            row["subject"],
            row["agent"],
            row["agent_call_sid"],
            OfferState(row["state"]),
        )

    def add(self, offer_id: str, kind: OfferKind, subject: str, agent: str) -> Statement:
        return Statement(
            "INSERT INTO agent_offers (id, kind, subject, agent, agent_call_sid, state, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, '', 'ringing', $5, $5)",
            (offer_id, kind.value, subject, agent, self.clock()),
        )

    async def ringing_on(self, offer_id: str, agent_call_sid: str) -> None:
        await self.sql.execute(
            "UPDATE agent_offers SET agent_call_sid = $2 WHERE id = $1", offer_id, agent_call_sid
        )

    async def accept(self, offer_id: str) -> bool:
        changed = await self.sql.execute(
            "UPDATE agent_offers SET state = 'accepted', updated_at = $2 WHERE id = $1 AND state = 'ringing'",
            offer_id,
            self.clock(),
        )
        return changed == 1

    def settle(self, offer_id: str, state: OfferState) -> Statement:
        return Statement(
            "UPDATE agent_offers SET state = $2, updated_at = $3"
            " WHERE id = $1 AND state IN ('ringing', 'accepted')",
            (offer_id, state.value, self.clock()),
            expect_rows=1,
        )

    async def accepted_call(self, subject: str) -> str:
        row = await self.sql.fetchone(
            "SELECT agent_call_sid FROM agent_offers WHERE subject = $1 AND state = 'accepted'", subject
        )
        return str(row["agent_call_sid"]) if row else ""
