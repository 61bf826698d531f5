"""A caller's privacy rights: everything held about one phone number, exported or erased.

Every EU customer may ask what the line holds about them (GDPR art. 15) and have it erased
(art. 17). The line keeps a phone number in many places: call records with their
transcripts, the queue, callbacks, voicemails (and their audio on disk), campaign contacts
and their consent, opt-outs, the language a caller is greeted in, the day's lookup counts,
the imported orders and repairs, the events outbox (what the line tells the company), and,
with Redis, live sessions and the archive outbox.
This module names every one of them, so an export misses nothing and an erasure leaves
nothing: `tests/test_privacy.py` searches every table and every key afterwards.

Erasure keeps what the supervisors' figures need and nothing personal: a call record stays
with its path, outcome, times and language (the insights count it, and a count counted
twice or lost would change last month's figures), but its caller, called number, values,
transcript, spoken words and last answer go. Survey scores stay with the anonymous call.
The erasure itself is audited (who, when, how many records; the number only masked) in
the same transaction as the deletes. One thing outlives it: an opt-out, as a keyed digest of
the number (`ivr.store.suppressions`), so a customer who objected to our calls is never
called again when their number turns up in new data.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.logs import mask_phone
from ivr.session import COLUMNS, FINAL_STATUSES, CallSession, CallStatus
from ivr.store.audit import AuditLog
from ivr.store.sql import Row, Sql, Statement
from ivr.store.suppressions import KeptOptOuts

if TYPE_CHECKING:  # Redis is imported only where a deployment uses it (`ivr.store.backends`)
    from ivr.store.redis import RedisSessionStore

_OWNED_ORDERS = "SELECT order_number FROM orders WHERE phone = $1"
_OWNED_REPAIRS = "SELECT ticket_number FROM repairs WHERE phone = $1"
_CALLS = "SELECT call_sid FROM calls WHERE caller = $1 OR CAST(data AS text) LIKE $2"
_TURN_LINES = "SELECT lines FROM call_turns WHERE call_sid = $1 ORDER BY seq"

SECTIONS: Mapping[str, str] = {
    "calls": "SELECT call_sid, seq, caller, status, outcome, started_at, ended_at, CAST(data AS text) AS data"
    " FROM calls WHERE caller = $1 OR CAST(data AS text) LIKE $2 ORDER BY started_at",
    "survey_answers": f"SELECT call_sid, campaign, score, answered_at FROM survey_answers"
    f" WHERE call_sid IN ({_CALLS}) ORDER BY answered_at",
    "voicemails": "SELECT id, call_sid, created_at, state, recording_url, duration, audio_file, transcript,"
    " context FROM voicemails WHERE caller = $1 ORDER BY created_at",
    "callbacks": "SELECT id, call_sid, requested_at, state, attempts, reason, context FROM callbacks"
    " WHERE number = $1 ORDER BY requested_at",
    "queue_entries": "SELECT id, call_sid, enqueued_at, state, reason, context FROM queue_entries"
    " WHERE caller = $1 ORDER BY enqueued_at",
    "campaign_contacts": "SELECT id, campaign, event_key, state, attempts, score, context, created_at"
    " FROM outreach_targets WHERE number = $1 ORDER BY created_at",
    "campaign_calls": "SELECT call_sid, campaign, placed_at FROM outreach_calls WHERE target_id IN"
    " (SELECT id FROM outreach_targets WHERE number = $1) ORDER BY placed_at",
    "consent": "SELECT kind, record, contact_ok, time_zone FROM contact_consent"
    f" WHERE (kind = 'orders' AND record IN ({_OWNED_ORDERS}))"
    f" OR (kind = 'repairs' AND record IN ({_OWNED_REPAIRS})) ORDER BY kind, record",
    "opt_outs": "SELECT number, at, source FROM contact_optouts WHERE number = $1",
    "caller_language": "SELECT caller, language, source, updated_at FROM caller_languages WHERE caller = $1",
    "lookup_counts": "SELECT day, kind, count FROM lookup_counts WHERE caller = $1 ORDER BY day",
    "returns": "SELECT rma, order_number, serial_number, product, reason, status, language, started_on"
    " FROM returns WHERE caller = $1 ORDER BY created_at",
    "events": "SELECT id, type, body, created_at, state FROM event_outbox"
    " WHERE body LIKE '%' || $1 || '%' ORDER BY created_at",
    "repair_bookings": "SELECT number, serial_number, order_number, product, repair_option, slot_day,"
    " slot_part, status, guide_outcome, language, booked_on FROM repair_bookings WHERE caller = $1"
    " ORDER BY created_at",
    "orders": "SELECT order_number, customer_name, postal_code, status, carrier, tracking_number,"
    " placed_on, ship_date, eta FROM orders WHERE phone = $1 ORDER BY order_number",
    "repairs": "SELECT ticket_number, serial_number, product, status, updated_on, eta FROM repairs"
    " WHERE phone = $1 ORDER BY ticket_number",
    "warranties": "SELECT serial_number, order_number, product, purchased_on, expires_on, plan"
    f" FROM warranties WHERE order_number IN ({_OWNED_ORDERS}) ORDER BY serial_number",
}
"""Each kind of record and the query that finds a number's (`$1` the number, `$2` a LIKE
pattern for it inside JSON). A table holding a phone number and missing here is a bug."""

_ERASE: Sequence[str] = (
    # consent and warranties hang off the orders and repairs: go first, while those still say whose
    "DELETE FROM contact_consent WHERE (kind = 'orders' AND record IN"
    f" ({_OWNED_ORDERS})) OR (kind = 'repairs' AND record IN ({_OWNED_REPAIRS}))",
    f"DELETE FROM warranties WHERE order_number IN ({_OWNED_ORDERS})",
    "DELETE FROM orders WHERE phone = $1",
    "DELETE FROM repairs WHERE phone = $1",
    "DELETE FROM outreach_calls WHERE target_id IN (SELECT id FROM outreach_targets WHERE number = $1)",
    "DELETE FROM outreach_targets WHERE number = $1",
    "DELETE FROM contact_optouts WHERE number = $1",
    "DELETE FROM voicemails WHERE caller = $1",
    "DELETE FROM callbacks WHERE number = $1",
    "DELETE FROM queue_entries WHERE caller = $1",
    "DELETE FROM caller_languages WHERE caller = $1",
    "DELETE FROM lookup_counts WHERE caller = $1",
    "DELETE FROM returns WHERE caller = $1",
    # events for the company not yet sent, or kept after: the number in their body goes, unsent
    "DELETE FROM event_outbox WHERE body LIKE '%' || $1 || '%'",
    # a booking's slot is freed for other callers before the booking goes
    "UPDATE repair_slots SET booking = '' WHERE booking IN"
    " (SELECT number FROM repair_bookings WHERE caller = $1)",
    "DELETE FROM repair_bookings WHERE caller = $1",
)
"""What erasure deletes outright, in one transaction with the calls' anonymising."""


@dataclass(frozen=True, slots=True)
class SubjectData:
    """Everything held about one number: each kind of record as plain rows."""

    number: str
    records: Mapping[str, list[dict[str, Any]]]
    live: list[dict[str, Any]] = field(default_factory=list)
    """Sessions still in Redis (live calls, and finished ones waiting in the archive outbox)."""

    def to_json(self) -> str:
        return json.dumps(
            {"number": self.number, "records": self.records, "live_sessions": self.live},
            ensure_ascii=False,
            indent=2,
            default=str,
        )

    def counts(self) -> dict[str, int]:
        return {kind: len(rows) for kind, rows in self.records.items()} | {"live_sessions": len(self.live)}


def _pattern(number: str) -> str:
    """The number inside JSON text; LIKE's own wildcards cannot occur in an E.164 number."""
    return f"%{number}%"


def _plain(row: Row) -> dict[str, Any]:
    return {key: value for key, value in row.items()}


async def export_number(sql: Sql, number: str, sessions: RedisSessionStore | None = None) -> SubjectData:
    """Every record held about `number`, kind by kind (calls with their whole transcript)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for kind, query in SECTIONS.items():
        args: tuple[str, ...] = (number, _pattern(number)) if "$2" in query else (number,)
        found = await (sql.fetch_bulk if kind == "calls" else sql.fetch)(query, *args)  # calls: a scan
        rows = [_plain(row) for row in found]
        if kind == "calls":
            # A frequent caller's thousands of records: parsed off the loop the calls run on.
            rows = await asyncio.to_thread(_with_sessions, rows)
            for row in rows:  # a live call's transcript is in its turns' rows, not yet in its record
                turns = await sql.fetch(_TURN_LINES, row["call_sid"])
                row["data"].setdefault("transcript", []).extend(
                    line for turn in turns for line in json.loads(str(turn["lines"]))
                )
        records[kind] = rows
    live = [json.loads(text) for _, text in await _redis_sessions(sessions, number)] if sessions else []
    return SubjectData(number, records, live)


def _with_sessions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


@dataclass(frozen=True, slots=True)
class Erasure:
    number: str
    erased: Mapping[str, int]
    """How many records of each kind were deleted or anonymised."""
    files: int
    """Voicemail recordings deleted from disk."""


def anonymised(data: str, now: float) -> CallSession:
    """A call record's session with everything personal gone and what the insights count kept.

    A call still going is ended here (abandoned, at `now`): its next webhook, however late, then
    gets a plain goodbye instead of carrying on (or, its session gone, starting afresh with the
    caller's number) and writing what was just erased back."""
    session = CallSession.from_json(data)
    if session.status not in FINAL_STATUSES:
        session.status = CallStatus.COMPLETED
        session.ended_at = now
        session.outcome = session.outcome or "abandoned"
        session.seq += 1  # a turn in flight loses its compare-and-set
    session.caller = ""
    session.called = ""
    session.vars = {}
    session.transcript = []
    session.last_response = ""
    session.inputs = []
    session.misheard = []
    session.extra = {}
    return session


async def erase_number(
    sql: Sql,
    number: str,
    *,
    actor: str,
    sessions: RedisSessionStore | None = None,
    audit: AuditLog | None = None,
) -> Erasure:
    """Delete or anonymise everything held about `number`, audited as done by `actor`.

    Redis goes first (a live copy must not be archived back into the database after it), then
    one database transaction, then the voicemail files that transaction no longer names."""
    if not number.startswith("+") or not number[1:].isdigit():
        raise ValueError(f"{mask_phone(number)} is not a phone number in E.164 form (+4930123456)")
    live = await _erase_redis(sessions, number) if sessions else 0
    found = await export_number(sql, number)
    statements = await asyncio.to_thread(_anonymising, found.records["calls"], time.time())
    # a live call's turns: its lines and answers (which may read out an order) go with it
    statements += [
        Statement("DELETE FROM call_turns WHERE call_sid = $1", (row["call_sid"],))
        for row in found.records["calls"]
    ]
    statements.append(await KeptOptOuts(sql).keep(number))  # before the opt-out row goes
    statements += [Statement(query, (number,)) for query in _ERASE]
    counts = {kind: n for kind, n in found.counts().items() if n and kind != "live_sessions"}
    if live:
        counts["live_sessions"] = live
    log = audit or AuditLog(sql)
    detail = json.dumps(counts, sort_keys=True)
    statements.append(
        Statement(log.INSERT, log.entry_args(actor, "privacy.erase", mask_phone(number), detail))
    )
    await sql.atomic(statements)
    recordings = [Path(str(row["audio_file"])) for row in found.records["voicemails"] if row["audio_file"]]
    files = await asyncio.to_thread(_delete_files, recordings)
    return Erasure(number, counts, files)


def _anonymising(calls: list[dict[str, Any]], now: float) -> list[Statement]:
    """The updates that anonymise these call records (JSON work: run off the loop)."""
    return [
        Statement(
            "UPDATE calls SET caller = '', data = $2, status = $3, ended_at = $4, seq = $5"
            " WHERE call_sid = $1",
            (row["call_sid"], session.to_json(), session.status, session.ended_at, session.seq),
        )
        for row in calls
        for session in [anonymised(json.dumps({**row["data"], **{k: row[k] for k in COLUMNS}}), now)]
    ]


def _delete_files(paths: list[Path]) -> int:
    """Delete the recordings that exist; how many there were."""
    deleted = 0
    for path in paths:
        if path.is_file():
            path.unlink()
            deleted += 1
    return deleted


async def _redis_sessions(sessions: RedisSessionStore, number: str) -> list[tuple[str, str]]:
    """(key or outbox field, session JSON) of every session in Redis that holds `number`."""
    client = sessions.client
    found: list[tuple[str, str]] = []
    async for key in client.scan_iter(match=f"{sessions.prefix}call:*", count=500):
        data = await client.hget(key, "data")
        if data is not None and number in data:
            session = await sessions.load(str(key).removeprefix(f"{sessions.prefix}call:"))
            found.append((str(key), session.to_json() if session else str(data)))
    outbox = f"{sessions.prefix}archive:data"
    async for call_sid, data in client.hscan_iter(outbox, count=500):
        if number in str(data):
            found.append((f"{outbox}#{call_sid}", str(data)))
    return found


async def _erase_redis(sessions: RedisSessionStore, number: str) -> int:
    """Anonymise the sessions holding `number`: live ones ended (a late webhook hears goodbye; the
    key expires when it would have), finished ones in the archive outbox kept for
    the database (their call is still counted once it has them)."""
    client = sessions.client
    found = await _redis_sessions(sessions, number)
    outbox = f"{sessions.prefix}archive:data"
    now = time.time()
    for key, data in found:
        session = anonymised(data, now)
        if key.startswith(f"{outbox}#"):
            await client.hset(outbox, key.removeprefix(f"{outbox}#"), session.to_json())
        else:
            await client.hset(key, mapping={"seq": session.seq, "data": session.to_json(), "answer": ""})
            await client.delete(sessions.lines_key(session.call_sid))
    return len(found)
