"""Campaign records over `Sql`, on SQLite and PostgreSQL alike.

One row per customer and event (`outreach_targets`, unique on campaign and event key: nobody
is called twice about one delivery), moving through `TargetState`. Claiming due rows is one
statement that changes only rows still waiting, so two instances running the same round
never place the same call: on PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, on
SQLite the single conditional `UPDATE` runs under the database's write lock. The same batch
first updates the campaign's own row, which serialises claims per campaign, so the caps
(calls in progress, calls per day) hold across instances too.

The claim itself also asks what must be true at the moment of calling, not only at the round's
start: the number is not on the opt-out list (an opt-out, or another instance's new event for
an opted-out number, can land between the tidy-up and the claim), and the number is not being
called already, by this campaign or another (a customer with two events gets one call at a
time). On PostgreSQL claims of all campaigns take one transaction lock for this, so two
campaigns' claims cannot both see a number free; SQLite's write lock does the same.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ivr.events import EventType
from ivr.store import event_outbox
from ivr.store.sql import Conflict, PostgresSql, Row, Sql, Statement
from ivr.store.suppressions import KeptOptOuts


class TargetState(StrEnum):
    WAITING = "waiting"
    """Due now or later (first try, or a retry after `spacing_hours`)."""
    CALLING = "calling"
    """Claimed: the call is being placed or is ringing."""
    ANSWERED = "answered"
    """A person picked up; the conversation is running."""
    MACHINE = "machine"
    """An answering machine took the short message; no more calls."""
    NO_ANSWER = "no_answer"
    """Every attempt went unanswered (or busy)."""
    OPTED_OUT = "opted_out"
    """The number is on the opt-out list (pressed 9 now or before)."""
    DONE = "done"
    """A person answered and the call ended."""
    FAILED = "failed"
    """Twilio refused every attempt (a bad number, say); the last error is kept."""


CLAIM_LOCK = 0x1F0C_A11
"""PostgreSQL's transaction lock that claims of all campaigns take (any number the line's own)."""
LEASE_SECONDS = 300.0
"""A row claimed this long ago that never got a CallSid was claimed by an instance that
stopped before Twilio answered: it goes back to waiting (the attempt counts)."""
STALE_CALL_SECONDS = 4 * 3600.0
"""A call whose end Twilio never reported is taken as over after this long (unanswered, or done
if someone answered), so it stops counting against the cap on calls in progress."""


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    campaign: str
    event_key: str
    number: str
    time_zone: str
    context: Mapping[str, str]
    state: TargetState
    attempts: int
    next_at: float
    call_sid: str
    last_error: str
    answered_by: str
    score: int | None
    callback_id: str


@dataclass(frozen=True, slots=True)
class Event:
    """Something a campaign calls about, found in the business data."""

    key: str
    """Unique per campaign, e.g. ``order_delivered:4512``."""
    number: str
    time_zone: str
    due_at: float
    """When the first call may be made (UNIX time)."""
    context: Mapping[str, str]
    """What the conversation and the agent desk may say about it (name, product, date, order)."""


_COLUMNS = (
    "id, campaign, event_key, number, time_zone, context, state, attempts, next_at, call_sid,"
    " last_error, answered_by, score, callback_id"
)


def _target(row: Row) -> Target:
    return Target(
        id=row["id"],
        campaign=row["campaign"],
        event_key=row["event_key"],
        number=row["number"],
        time_zone=row["time_zone"],
        context={str(k): str(v) for k, v in json.loads(row["context"]).items()},
        state=TargetState(row["state"]),
        attempts=int(row["attempts"]),
        next_at=float(row["next_at"]),
        call_sid=row["call_sid"],
        last_error=row["last_error"],
        answered_by=row["answered_by"],
        score=None if row["score"] is None else int(row["score"]),
        callback_id=row["callback_id"],
    )


def day_start(now: float) -> float:
    """Midnight UTC of the day `now` falls in (the daily cap's day)."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class OutreachStore:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self.kept_optouts = KeptOptOuts(sql)
        """Numbers that opted out before their data was erased (see `ivr.store.suppressions`)."""
        self.postgres = isinstance(sql, PostgresSql)

    # --- campaigns on and off --------------------------------------------------------------------

    async def known(self, names: Sequence[str]) -> None:
        """A row per campaign (off), so enabling one is an update and claims can lock it."""
        for name in names:
            await self.sql.execute(
                "INSERT INTO outreach_campaigns (name, enabled, changed_at, changed_by, round_at)"
                " VALUES ($1, 0, 0, '', 0) ON CONFLICT (name) DO NOTHING",
                name,
            )

    async def set_enabled(self, name: str, enabled: bool, by: str, now: float) -> None:
        await self.known([name])
        await self.sql.execute(
            "UPDATE outreach_campaigns SET enabled = $2, changed_at = $3, changed_by = $4 WHERE name = $1",
            name,
            1 if enabled else 0,
            now,
            by,
        )

    async def enabled(self) -> set[str]:
        rows = await self.sql.fetch("SELECT name FROM outreach_campaigns WHERE enabled = 1")
        return {r["name"] for r in rows}

    # --- the round --------------------------------------------------------------------------------

    async def enqueue(self, campaign: str, events: Sequence[Event], now: float) -> int:
        """Add events not seen before; returns how many were new. A customer still waiting for
        their first call takes the time zone imported since (a corrected import must move
        when they are called, not only who is called next time)."""
        for number in await self.kept_optouts.among(event.number for event in events):
            await self.opt_out(number, "kept after erasure", now)
        added = 0
        for event in events:
            new = await self.sql.execute(
                f"INSERT INTO outreach_targets ({_COLUMNS}, claimed_at, scored_at, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'waiting', 0, $7, '', '', '', NULL, '', 0, NULL, $8, $8)"
                " ON CONFLICT (campaign, event_key) DO NOTHING",
                secrets.token_hex(8),
                campaign,
                event.key,
                event.number,
                event.time_zone,
                json.dumps(dict(event.context), sort_keys=True),
                event.due_at,
                now,
            )
            added += new
            if not new:
                await self.sql.execute(
                    "UPDATE outreach_targets SET time_zone = $3, updated_at = $4 WHERE campaign = $1"
                    " AND event_key = $2 AND state = 'waiting' AND attempts = 0 AND time_zone <> $3",
                    campaign,
                    event.key,
                    event.time_zone,
                    now,
                )
        return added

    async def tidy(self, campaign: str, now: float) -> None:
        """Before claiming: opted-out numbers leave the queue; claims and calls that were lost
        (an instance stopped, Twilio never reported an end) are resolved."""
        await self.sql.execute(
            "UPDATE outreach_targets SET state = 'opted_out', updated_at = $2"
            " WHERE campaign = $1 AND state = 'waiting'"
            " AND number IN (SELECT number FROM contact_optouts)",
            campaign,
            now,
        )
        await self.sql.execute(
            "UPDATE outreach_targets SET state = 'waiting', last_error = 'interrupted before the call was"
            " placed', updated_at = $2 WHERE campaign = $1 AND state = 'calling' AND call_sid = ''"
            " AND claimed_at < $3",
            campaign,
            now,
            now - LEASE_SECONDS,
        )
        await self.sql.execute(
            "UPDATE outreach_targets SET state = 'no_answer', last_error = 'no status from Twilio',"
            " updated_at = $2 WHERE campaign = $1 AND state = 'calling' AND call_sid <> ''"
            " AND claimed_at < $3",
            campaign,
            now,
            now - STALE_CALL_SECONDS,
        )
        await self.sql.execute(
            "UPDATE outreach_targets SET state = 'done', updated_at = $2"
            " WHERE campaign = $1 AND state = 'answered' AND claimed_at < $3",
            campaign,
            now,
            now - STALE_CALL_SECONDS,
        )

    async def due(self, campaign: str, now: float, limit: int = 500) -> list[Target]:
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM outreach_targets WHERE campaign = $1 AND state = 'waiting'"
            " AND next_at <= $2 ORDER BY next_at, id LIMIT $3",
            campaign,
            now,
            limit,
        )
        return [_target(r) for r in rows]

    async def claim(
        self, campaign: str, ids: Sequence[str], now: float, *, concurrent_cap: int, daily_cap: int
    ) -> list[Target]:
        """Move waiting rows among `ids` to calling, as many as the caps allow, atomically.

        Returns only the rows this caller claimed; nothing when the campaign is paused."""
        if not ids:
            return []
        room = (
            "(SELECT count(*) FROM outreach_targets WHERE campaign = $1"
            " AND state IN ('calling', 'answered'))",
            "(SELECT count(*) FROM outreach_calls WHERE campaign = $1 AND placed_at >= $4)",
        )
        columns = ", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))

        def may_call(among: Callable[[str], str]) -> str:
            """Conditions on candidate `c`: not opted out, its number not in a call, and the first
            of its number's candidates (`among(alias)`: the row is one of `ids`)."""
            return (
                " AND NOT EXISTS (SELECT 1 FROM contact_optouts o WHERE o.number = c.number)"
                " AND NOT EXISTS (SELECT 1 FROM outreach_targets busy WHERE busy.number = c.number"
                " AND busy.state IN ('calling', 'answered'))"
                " AND NOT EXISTS (SELECT 1 FROM outreach_targets e WHERE e.number = c.number"
                f" AND e.campaign = $1 AND e.state = 'waiting' AND {among('e')}"
                " AND (e.next_at < c.next_at OR (e.next_at = c.next_at AND e.id < c.id)))"
            )

        first: list[Statement] = []
        if self.postgres:
            # A CTE runs once: as an `IN (subquery)` PostgreSQL may run the pick again per
            # row scanned, and each run skips the rows the last one locked (claiming too many).
            claim = (
                "WITH picked AS (SELECT c.id FROM outreach_targets c WHERE c.campaign = $1"
                " AND c.state = 'waiting' AND c.id = ANY($2::text[])"
                + may_call(lambda alias: f"{alias}.id = ANY($2::text[])")
                + " ORDER BY c.next_at, c.id"
                f" LIMIT GREATEST(0, LEAST($5 - {room[0]}, $6 - {room[1]})) FOR UPDATE OF c SKIP LOCKED)"
                " UPDATE outreach_targets t SET state = 'calling', attempts = t.attempts + 1,"
                " claimed_at = $3, call_sid = '', updated_at = $3 FROM picked"
                f" WHERE t.id = picked.id AND t.state = 'waiting' RETURNING {columns}"
            )
            id_arg: Any = list(ids)
            # Claims of every campaign, one at a time: each sees the numbers the last one took.
            first.append(Statement("SELECT pg_advisory_xact_lock($1)", (CLAIM_LOCK,)))
        else:
            # One conditional UPDATE, under SQLite's write lock (`BEGIN IMMEDIATE`).
            claim = (
                "UPDATE outreach_targets SET state = 'calling', attempts = attempts + 1,"
                " claimed_at = $3, call_sid = '', updated_at = $3 WHERE id IN ("
                "SELECT c.id FROM outreach_targets c WHERE c.campaign = $1 AND c.state = 'waiting'"
                " AND c.id IN (SELECT value FROM json_each($2))"
                + may_call(lambda alias: f"{alias}.id IN (SELECT value FROM json_each($2))")
                + " ORDER BY c.next_at, c.id"
                f" LIMIT max(0, min($5 - {room[0]}, $6 - {room[1]}))) AND state = 'waiting'"
                f" RETURNING {_COLUMNS}"
            )
            id_arg = json.dumps(list(ids))
        try:
            results = await self.sql.atomic(
                [
                    *first,
                    Statement(
                        "UPDATE outreach_campaigns SET round_at = $2 WHERE name = $1 AND enabled = 1",
                        (campaign, now),
                        expect_rows=1,
                    ),
                    Statement(claim, (campaign, id_arg, now, day_start(now), concurrent_cap, daily_cap)),
                ]
            )
        except Conflict:
            return []  # paused meanwhile
        return sorted((_target(r) for r in results[-1]), key=lambda t: (t.next_at, t.id))

    async def placed(self, target: Target, call_sid: str, now: float) -> None:
        await self.sql.atomic(
            [
                Statement(
                    "UPDATE outreach_targets SET call_sid = $2, last_error = '', updated_at = $3"
                    " WHERE id = $1",
                    (target.id, call_sid, now),
                ),
                Statement(
                    "INSERT INTO outreach_calls (call_sid, target_id, campaign, placed_at)"
                    " VALUES ($1, $2, $3, $4)",
                    (call_sid, target.id, target.campaign, now),
                ),
            ]
        )

    async def attempt_failed(
        self, target_id: str, why: str, now: float, *, attempts: int, spacing: float, final: TargetState
    ) -> None:
        """An attempt that reached nobody: wait and try again, unless the attempts are used up."""
        await self.sql.execute(
            "UPDATE outreach_targets SET state = CASE WHEN attempts < $3 THEN 'waiting' ELSE $4 END,"
            " next_at = $5, last_error = $2, updated_at = $6 WHERE id = $1 AND state = 'calling'",
            target_id,
            why,
            attempts,
            final.value,
            now + spacing,
            now,
        )

    # --- what happens on the call -------------------------------------------------------------------

    async def for_call(self, call_sid: str) -> Target | None:
        row = await self.sql.fetchone(
            f"SELECT {_COLUMNS} FROM outreach_targets WHERE call_sid = $1", call_sid
        )
        return _target(row) if row else None

    async def get(self, target_id: str) -> Target | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM outreach_targets WHERE id = $1", target_id)
        return _target(row) if row else None

    async def picked_up(self, target_id: str, state: TargetState, answered_by: str, now: float) -> bool:
        """Someone (or something) answered: `answered` or `machine`; once only."""
        changed = await self.sql.execute(
            "UPDATE outreach_targets SET state = $2, answered_by = $3, updated_at = $4"
            " WHERE id = $1 AND state = 'calling'",
            target_id,
            state.value,
            answered_by,
            now,
        )
        return changed == 1

    async def call_ended(self, target_id: str, now: float) -> None:
        await self.sql.execute(
            "UPDATE outreach_targets SET state = 'done', updated_at = $2"
            " WHERE id = $1 AND state = 'answered'",
            target_id,
            now,
        )

    async def record_score(self, target: Target, score: int, now: float) -> None:
        """The target's score, and the call's survey answer that the insights read, together."""
        await self.sql.atomic(
            [
                Statement(
                    "UPDATE outreach_targets SET score = $2, scored_at = $3, updated_at = $3 WHERE id = $1",
                    (target.id, score, now),
                ),
                Statement(
                    "INSERT INTO survey_answers (call_sid, campaign, score, answered_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (call_sid)"
                    " DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at",
                    (target.call_sid, target.campaign, score, now),
                ),
                event_outbox.event(
                    EventType.SURVEY_ANSWERED,
                    target.call_sid,
                    {
                        "call_sid": target.call_sid,
                        "score": score,
                        "campaign": target.campaign,
                        "number": target.number,
                    },
                    now,
                ),
            ]
        )

    async def add_callback(
        self, target: Target, reason: str, context: Mapping[str, str], now: float, *, skill: str = ""
    ) -> str:
        """A callback on the agent desk (its callbacks table), once per target; `skill` (the
        language the customer spoke) routes it to an agent who speaks it."""
        callback_id = secrets.token_hex(8)
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "UPDATE outreach_targets SET callback_id = $2, updated_at = $3"
                        " WHERE id = $1 AND callback_id = ''",
                        (target.id, callback_id, now),
                        expect_rows=1,
                    ),
                    Statement(
                        "INSERT INTO callbacks (id, call_sid, number, reason, context, skill, requested_at,"
                        " state, attempts, next_attempt_at, agent, customer_call_sid, last_error, done_by,"
                        " updated_at) VALUES ($1, $2, $3, $6, $4, $7, $5, 'pending', 0, $5,"
                        " '', '', '', '', $5)",
                        (
                            callback_id,
                            target.call_sid,
                            target.number,
                            json.dumps(dict(context), sort_keys=True),
                            now,
                            reason,
                            skill,
                        ),
                    ),
                    event_outbox.event(
                        EventType.CALLBACK_REQUESTED,
                        callback_id,
                        {
                            "callback_id": callback_id,
                            "call_sid": target.call_sid,
                            "number": target.number,
                            "reason": reason,
                            "context": dict(context),
                            "campaign": target.campaign,
                        },
                        now,
                    ),
                ]
            )
        except Conflict:
            fresh = await self.get(target.id)
            return fresh.callback_id if fresh else ""
        return callback_id

    # --- the opt-out list ----------------------------------------------------------------------------

    async def opt_out(self, number: str, source: str, now: float) -> bool:
        """Add a number for good (every campaign honours it); False if it was already there.

        Its targets stop at once, queued or in a call: a claimed call not yet placed is not
        placed, a ringing one says goodbye when answered, a running one at its next turn.
        A new opt-out is told to the company (`contact.opted_out`) in the same transaction."""
        stop = Statement(
            "UPDATE outreach_targets SET state = 'opted_out', updated_at = $2"
            " WHERE number = $1 AND state IN ('waiting', 'calling', 'answered')",
            (number, now),
        )
        known = await self.sql.fetchone("SELECT at FROM contact_optouts WHERE number = $1", number)
        if known is not None:
            await self.sql.atomic([stop])
            return False
        try:
            await self.sql.atomic(
                [
                    Statement(
                        "INSERT INTO contact_optouts (number, at, source) VALUES ($1, $2, $3)"
                        " ON CONFLICT (number) DO NOTHING",
                        (number, now, source),
                        expect_rows=1,
                    ),
                    stop,
                    event_outbox.event(
                        EventType.CONTACT_OPTED_OUT,
                        f"{number}@{now}",
                        {"number": number, "source": source, "at": now},
                        now,
                    ),
                ]
            )
        except Conflict:  # another call opted the number out meanwhile
            await self.sql.atomic([stop])
            return False
        return True

    async def opt_in(self, number: str) -> bool:
        await self.kept_optouts.forget(number)
        return await self.sql.execute("DELETE FROM contact_optouts WHERE number = $1", number) == 1

    async def optouts(self) -> list[Row]:
        return await self.sql.fetch("SELECT number, at, source FROM contact_optouts ORDER BY at, number")

    # --- consent, imported with the data -------------------------------------------------------------

    async def save_consent(self, kind: str, rows: Sequence[tuple[str, bool, str]]) -> None:
        """(record number, contact_ok, time_zone) for each record of one import, in one transaction."""
        await self.sql.atomic(
            [
                Statement(
                    "INSERT INTO contact_consent (kind, record, contact_ok, time_zone)"
                    " VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (kind, record) DO UPDATE SET contact_ok = excluded.contact_ok,"
                    " time_zone = excluded.time_zone",
                    (kind, record, 1 if ok else 0, zone),
                )
                for record, ok, zone in rows
            ]
        )

    # --- reports -------------------------------------------------------------------------------------

    async def waiting(self, campaign: str, limit: int = 20) -> list[Target]:
        """Customers waiting for a call, the soonest due first (the page says why each waits)."""
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM outreach_targets WHERE campaign = $1 AND state = 'waiting'"
            " ORDER BY next_at, id LIMIT $2",
            campaign,
            limit,
        )
        return [_target(r) for r in rows]

    async def counts(self, campaign: str) -> dict[str, int]:
        rows = await self.sql.fetch(
            "SELECT state, count(*) AS n FROM outreach_targets WHERE campaign = $1 GROUP BY state", campaign
        )
        counts = {state.value: 0 for state in TargetState}
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts

    async def scores(self, campaign: str) -> list[Row]:
        """(score, scored_at) of every answer, for the distribution and the weekly averages."""
        return await self.sql.fetch(
            "SELECT score, scored_at FROM outreach_targets WHERE campaign = $1 AND score IS NOT NULL"
            " ORDER BY scored_at",
            campaign,
        )

    async def unhappy(self, campaign: str, below: int) -> list[Row]:
        """Customers who scored below `below`, with the state of their callback (if they asked)."""
        return await self.sql.fetch(
            "SELECT t.id, t.number, t.score, t.scored_at, t.context, t.callback_id,"
            " COALESCE(c.state, '') AS callback_state FROM outreach_targets t"
            " LEFT JOIN callbacks c ON c.id = t.callback_id"
            " WHERE t.campaign = $1 AND t.score IS NOT NULL AND t.score < $2 ORDER BY t.scored_at DESC",
            campaign,
            below,
        )
