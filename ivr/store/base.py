"""The storage interfaces of calls and business data that the line depends on.

The engine and the web layer see only these protocols: SQLite and PostgreSQL implement
all three, Redis the live `SessionStore` (`ivr.store.backends` picks them from the URLs).
The console's own records (accounts, audit, flow versions, the agent desk) are written
once against `ivr.store.sql.Sql` instead, which runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

from ivr.records import Order, Repair, Warranty
from ivr.session import CallSession

IDLE_BATCH = 100
"""Idle calls one sweep files at most; the next sweep takes the rest."""


class SessionStore(Protocol):
    """Live call state, shared by every process that serves webhooks.

    A call is stored as a small state row, rewritten each turn, and a row per turn with the
    transcript lines and the answer that turn added, appended (`CallSession.state_json`,
    `new_lines`, `answer`): a turn writes a few hundred bytes, not the whole call. When the
    call ends its record is filed whole again (`CallSession.to_json`), as everything that
    reads ended calls expects."""

    async def load(self, call_sid: str) -> CallSession | None:
        """The whole call: its state with every transcript line (consoles, the ending)."""
        ...

    async def load_state(self, call_sid: str) -> CallSession | None:
        """The call's state for a turn, without the transcript lines already stored."""
        ...

    async def answer(self, call_sid: str, seq: int) -> str | None:
        """The record of the answer turn `seq` gave (`ivr.answers`), or None."""
        ...

    async def create(self, session: CallSession) -> bool:
        """Insert a new call; False if a session with that CallSid already exists."""
        ...

    async def save(self, session: CallSession, expected_seq: int) -> bool:
        """Replace the stored state only if its seq is still `expected_seq`, and append the
        turn's new transcript lines and answer with it (one atomic write). A final status
        files the whole record (the session must then be a whole one, from `load`).

        This compare-and-set is what makes duplicate webhook deliveries advance a call
        once: the loser of a race learns it lost and replays the winner's answer.
        """
        ...

    async def idle(self, idle_for: float) -> Sequence[tuple[str, float]]:
        """Calls still in progress that nothing has written for `idle_for` seconds, as (call
        sid, when last written, Unix time), at most `IDLE_BATCH` of them: calls whose final
        status callback was lost, for the line to file as ended (`SupportLine.sweep`)."""
        ...


@dataclass(frozen=True, slots=True)
class CallSummary:
    call_sid: str
    caller: str
    started_at: float
    ended_at: float | None
    status: str
    outcome: str
    turns: int


class CallLog(Protocol):
    """Read access to call records for operators (`ivr calls`)."""

    async def list_calls(self, limit: int = 50) -> Sequence[CallSummary]: ...

    async def get_call(self, call_sid: str) -> CallSession | None: ...

    async def archive(self, session: CallSession) -> None:
        """Keep a finished call's record (path, transcript, outcome) in the database.

        Where live sessions and records share a table (SQLite, PostgreSQL without Redis)
        this is an upsert of the same row; with Redis it is how a record outlives the
        live session, which expires."""
        ...

    async def purge(self, started_before: float) -> int:
        """Delete the records of calls that started before this time (retention); returns how many.

        Calls still in progress are kept whatever their age."""
        ...


class SourceUnavailable(Exception):
    """A lookup's source did not answer in time, failed, or is resting (its breaker is open).

    Raised by `order`, `warranty`, `repair`, `orders_of` and `repairs_of` when they read an
    outside system (`ivr.sources`); the local tables never raise it. The flow's lookups turn
    it into the `unavailable` outcome: the caller hears that the system cannot be reached and
    is offered an agent, and nothing counts against the caller's lookup limits."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        """Which kind of record could not be read (`orders`, `repairs`, `warranties`, `customers`)."""


class Repository(Protocol):
    """Business data the flows look up: the tables `ivr import` loads, or outside systems
    for the kinds a sources file names (`ivr.sources.repository`)."""

    async def order(self, order_number: str) -> Order | None: ...

    async def warranty(self, serial_number: str) -> Warranty | None: ...

    async def repair(self, ticket_number: str) -> Repair | None: ...

    async def orders_of(self, phone: str) -> Sequence[Order]:
        """The orders filed under this phone number (for greeting a caller by caller ID)."""
        ...

    async def repairs_of(self, phone: str) -> Sequence[Repair]:
        """The repairs filed under this phone number."""
        ...

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        """Insert or update rows by their number in one transaction; returns the count."""
        ...

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        """Add `add` to this caller number's count of `kind` on `day`; returns the new total
        (`add=0` only reads it).

        Kept in the database, not the call, so a limit holds across calls and across
        instances: a stranger cannot reset it by calling again or reaching another server.
        """
        ...


@runtime_checkable
class NamedSources(Protocol):
    """A `Repository` that reads some kinds from elsewhere, and says where (`ivr.sources`)."""

    def source_of(self, kind: str) -> str:
        """The source that answers lookups of `kind` (`orders`, `customers.orders`…): its
        name, `local`, or `nobody` (a caller's records that no lookup finds)."""
        ...


def answered_by(repository: Repository, kind: str) -> str:
    """Which source answers `kind` lookups, for the call record: a sources file's name, or `local`."""
    return repository.source_of(kind) if isinstance(repository, NamedSources) else "local"
