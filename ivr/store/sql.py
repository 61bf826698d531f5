"""One narrow SQL interface over SQLite and PostgreSQL, for the console's stores.

Accounts, flow versions, agents and the queue are written once against `Sql`, with
PostgreSQL-style `$1` placeholders and SQL both engines accept (`text`, `bigint`,
`double precision`, `ON CONFLICT`, `RETURNING`). Their tables are created by *shared*
migrations: one DDL text that both dialects run (see `SHARED_MIGRATIONS`).

Transactions are a list of statements run as one unit (`atomic`), not an open handle held
across awaits: SQLite has one connection on one thread, and a transaction left open while
the event loop runs other queries would swallow them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.session import COLUMNS, CallSession

Row = Mapping[str, Any]


class Conflict(Exception):
    """A statement in an `atomic` batch changed a different number of rows than expected
    (someone else changed the row first); nothing in the batch was kept."""

    def __init__(self, index: int, expected: int, actual: int) -> None:
        super().__init__(f"statement {index} changed {actual} row(s), expected {expected}")
        self.index = index


@dataclass(frozen=True, slots=True)
class Statement:
    query: str
    args: tuple[Any, ...] = ()
    expect_rows: int | None = None
    """When set, the batch is rolled back (raising `Conflict`) unless exactly this many rows change."""


class Sql(Protocol):
    async def fetch(self, query: str, *args: Any) -> list[Row]: ...

    async def fetch_bulk(self, query: str, *args: Any) -> list[Row]:
        """`fetch` for a query that reads much (a scan of every call, thousands of rows): on
        SQLite it runs off the event loop, where `fetch` runs on it for a webhook's speed."""
        ...

    async def fetchone(self, query: str, *args: Any) -> Row | None: ...

    async def execute(self, query: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def atomic(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run the statements in one transaction; returns each one's rows (`RETURNING`)."""
        ...


@dataclass(frozen=True, slots=True)
class SharedMigration:
    version: int
    """The schema version in both dialects (SQLite `user_version`, PostgreSQL `schema_migrations`)."""
    name: str
    sql: str = field(repr=False)


SHARED_MIGRATIONS: list[SharedMigration] = [
    SharedMigration(
        2,
        "accounts",
        """
        CREATE TABLE accounts (
            username text PRIMARY KEY, role text NOT NULL, display_name text NOT NULL,
            password_hash text NOT NULL, phone text NOT NULL, skills text NOT NULL,
            disabled integer NOT NULL, created_at double precision NOT NULL);
        CREATE TABLE console_sessions (
            token_hash text PRIMARY KEY, username text NOT NULL, csrf_token text NOT NULL,
            created_at double precision NOT NULL, seen_at double precision NOT NULL);
        CREATE INDEX console_sessions_user ON console_sessions (username);
        CREATE TABLE login_failures (
            key text PRIMARY KEY, failures integer NOT NULL, first_at double precision NOT NULL);
        CREATE TABLE audit_log (
            id text PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL,
            action text NOT NULL, subject text NOT NULL, detail text NOT NULL);
        CREATE INDEX audit_log_at ON audit_log (at);
        """,
    ),
    SharedMigration(
        3,
        "flow_versions",
        """
        CREATE TABLE flow_versions (
            name text NOT NULL, number integer NOT NULL, flow text NOT NULL, prompts text NOT NULL,
            published_at double precision NOT NULL, published_by text NOT NULL, note text NOT NULL,
            PRIMARY KEY (name, number));
        CREATE TABLE flow_published (
            name text PRIMARY KEY, number integer NOT NULL,
            changed_at double precision NOT NULL, changed_by text NOT NULL);
        CREATE TABLE flow_drafts (
            name text PRIMARY KEY, flow text NOT NULL, prompts text NOT NULL, revision integer NOT NULL,
            base_version integer NOT NULL, updated_by text NOT NULL, updated_at double precision NOT NULL);
        """,
    ),
    SharedMigration(
        4,
        "agents",
        """
        CREATE TABLE agent_states (
            username text PRIMARY KEY, status text NOT NULL, idle_since double precision NOT NULL,
            with_call text NOT NULL, offer_id text NOT NULL, updated_at double precision NOT NULL);
        CREATE TABLE queue_entries (
            id text PRIMARY KEY, call_sid text NOT NULL UNIQUE, caller text NOT NULL,
            reason text NOT NULL, context text NOT NULL, skill text NOT NULL,
            enqueued_at double precision NOT NULL, priority integer NOT NULL, state text NOT NULL,
            offered_to text NOT NULL, declined_by text NOT NULL, agent text NOT NULL,
            bridged_at double precision, ended_at double precision, updated_at double precision NOT NULL);
        CREATE INDEX queue_entries_state ON queue_entries (state, enqueued_at);
        CREATE TABLE agent_offers (
            id text PRIMARY KEY, kind text NOT NULL, subject text NOT NULL, agent text NOT NULL,
            agent_call_sid text NOT NULL, state text NOT NULL, created_at double precision NOT NULL,
            updated_at double precision NOT NULL);
        CREATE INDEX agent_offers_subject ON agent_offers (subject);
        CREATE TABLE callbacks (
            id text PRIMARY KEY, call_sid text NOT NULL, number text NOT NULL, reason text NOT NULL,
            context text NOT NULL, skill text NOT NULL, requested_at double precision NOT NULL,
            state text NOT NULL, attempts integer NOT NULL, next_attempt_at double precision NOT NULL,
            agent text NOT NULL, customer_call_sid text NOT NULL, last_error text NOT NULL,
            done_by text NOT NULL, updated_at double precision NOT NULL);
        CREATE INDEX callbacks_state ON callbacks (state, next_attempt_at);
        CREATE TABLE voicemails (
            id text PRIMARY KEY, call_sid text NOT NULL, caller text NOT NULL, reason text NOT NULL,
            context text NOT NULL, created_at double precision NOT NULL, state text NOT NULL,
            recording_url text NOT NULL, recording_sid text NOT NULL, duration integer NOT NULL,
            audio_file text NOT NULL, transcript text NOT NULL, transcript_status text NOT NULL,
            problem text NOT NULL, claimed_at double precision NOT NULL, done_by text NOT NULL,
            done_at double precision);
        CREATE INDEX voicemails_state ON voicemails (state, created_at);
        CREATE TABLE line_switches (
            name text PRIMARY KEY, is_on integer NOT NULL, changed_at double precision NOT NULL,
            changed_by text NOT NULL);
        """,
    ),
    SharedMigration(
        5,
        "used_tokens",
        """
        CREATE TABLE used_tokens (id text PRIMARY KEY, expires_at double precision NOT NULL);
        CREATE INDEX used_tokens_expires ON used_tokens (expires_at);
        """,
    ),
    SharedMigration(
        6,
        "agent_desk_indexes",
        # The desk's queries filter and order in SQL: a caller's position counts the live
        # entries ahead in queue order, the pace reads the latest bridged callers, the desk
        # lists open callbacks oldest first, and a caller's callback or voicemail is found
        # by CallSid (whose transcript an agent may read).
        """
        DROP INDEX queue_entries_state;
        CREATE INDEX queue_entries_order ON queue_entries (state, priority, enqueued_at);
        CREATE INDEX queue_entries_bridged ON queue_entries (bridged_at);
        CREATE INDEX callbacks_open ON callbacks (state, requested_at);
        CREATE INDEX callbacks_call ON callbacks (call_sid);
        CREATE INDEX voicemails_call ON voicemails (call_sid);
        """,
    ),
    SharedMigration(
        7,
        "lookup_counts",
        """
        CREATE TABLE lookup_counts (
            day text NOT NULL, caller text NOT NULL, kind text NOT NULL, count integer NOT NULL,
            PRIMARY KEY (day, caller, kind));
        """,
    ),
    SharedMigration(
        8,
        "records_by_phone",
        # A caller is greeted with their open order or repair, found by caller ID.
        """
        CREATE INDEX orders_phone ON orders (phone);
        CREATE INDEX repairs_phone ON repairs (phone);
        """,
    ),
    SharedMigration(
        9,
        "outreach",
        # Campaigns (ivr.outreach): whether each is on, one row per customer and event it
        # calls about (unique, so nobody is called twice about one delivery), each call
        # placed (for the daily cap), the opt-out list and the consent imported with the data.
        """
        CREATE TABLE outreach_campaigns (
            name text PRIMARY KEY, enabled integer NOT NULL, changed_at double precision NOT NULL,
            changed_by text NOT NULL, round_at double precision NOT NULL);
        CREATE TABLE outreach_targets (
            id text PRIMARY KEY, campaign text NOT NULL, event_key text NOT NULL, number text NOT NULL,
            time_zone text NOT NULL, context text NOT NULL, state text NOT NULL, attempts integer NOT NULL,
            next_at double precision NOT NULL, claimed_at double precision NOT NULL, call_sid text NOT NULL,
            last_error text NOT NULL, answered_by text NOT NULL, score integer, scored_at double precision,
            callback_id text NOT NULL, created_at double precision NOT NULL,
            updated_at double precision NOT NULL, UNIQUE (campaign, event_key));
        CREATE INDEX outreach_targets_due ON outreach_targets (campaign, state, next_at);
        CREATE INDEX outreach_targets_call ON outreach_targets (call_sid);
        CREATE TABLE outreach_calls (
            call_sid text PRIMARY KEY, target_id text NOT NULL, campaign text NOT NULL,
            placed_at double precision NOT NULL);
        CREATE INDEX outreach_calls_placed ON outreach_calls (campaign, placed_at);
        CREATE TABLE contact_optouts (
            number text PRIMARY KEY, at double precision NOT NULL, source text NOT NULL);
        CREATE TABLE contact_consent (
            kind text NOT NULL, record text NOT NULL, contact_ok integer NOT NULL,
            time_zone text NOT NULL, PRIMARY KEY (kind, record));
        """,
    ),
    SharedMigration(
        10,
        "insights",
        # Roll-ups of finished calls (see `ivr.insights`): calls per hour (volume, versions'
        # live periods), and everything counted per day, flow version, language, direction
        # and counted thing, so a month of figures reads thousands of rows rather than every
        # call. A call that ends is filed in
        # insight_calls (one small insert on the webhook's path) and counted into the
        # roll-ups in batches; the calls recorded before this release are filed here, so
        # they count too. Survey answers are the satisfaction scores.
        """
        CREATE TABLE insight_calls (call_sid text PRIMARY KEY, ended_at double precision NOT NULL);
        CREATE INDEX insight_calls_ended ON insight_calls (ended_at);
        INSERT INTO insight_calls (call_sid, ended_at)
            SELECT call_sid, ended_at FROM calls WHERE ended_at IS NOT NULL;
        CREATE TABLE insight_volume (
            hour bigint NOT NULL, flow text NOT NULL, version integer NOT NULL, language text NOT NULL,
            direction text NOT NULL, calls bigint NOT NULL, seconds double precision NOT NULL,
            PRIMARY KEY (hour, flow, version, language, direction));
        CREATE TABLE insight_counts (
            day integer NOT NULL, flow text NOT NULL, version integer NOT NULL, language text NOT NULL,
            direction text NOT NULL, metric text NOT NULL, key text NOT NULL,
            count bigint NOT NULL, total double precision NOT NULL,
            PRIMARY KEY (day, flow, version, language, direction, metric, key));
        CREATE INDEX insight_counts_version ON insight_counts (flow, version);
        CREATE TABLE survey_answers (
            call_sid text PRIMARY KEY, campaign text, score integer NOT NULL,
            answered_at double precision NOT NULL);
        CREATE INDEX survey_answers_at ON survey_answers (answered_at);
        """,
    ),
    SharedMigration(
        12,
        "caller_languages",
        # The language a caller number is greeted in: chosen on an earlier call, or given
        # with an order (source 'orders'); a caller's own choice wins over an import.
        """
        CREATE TABLE caller_languages (
            caller text PRIMARY KEY, language text NOT NULL, source text NOT NULL,
            updated_at double precision NOT NULL);
        """,
    ),
    SharedMigration(
        13,
        "account_languages",
        # The language an agent hears the desk in (the whisper before each caller); every
        # account made before this is English.
        """
        ALTER TABLE accounts ADD COLUMN language text NOT NULL DEFAULT 'en';
        """,
    ),
    SharedMigration(
        14,
        "insights_local_time",
        # The insights in the line's own days and hours, and exact queue wait percentiles:
        # counts are kept per local day (the line's time zone), volume per UTC quarter hour
        # (local hours are made of them in every time zone, summer time included), and each
        # queued call's wait on its own row (its order index lets SQLite read a median without
        # sorting a month of waits). The roll-ups so far were per UTC day and hour
        # with waits in buckets, so they are emptied and every call record kept is filed to be
        # counted again (in the background; the page says how many are left). Calls already
        # deleted by `ivr calls purge` cannot be counted again.
        """
        DELETE FROM insight_counts;
        DROP TABLE insight_volume;
        CREATE TABLE insight_volume (
            quarter bigint NOT NULL, flow text NOT NULL, version integer NOT NULL,
            language text NOT NULL, direction text NOT NULL, calls bigint NOT NULL,
            seconds double precision NOT NULL,
            PRIMARY KEY (quarter, flow, version, language, direction));
        CREATE TABLE insight_waits (
            call_sid text PRIMARY KEY, day integer NOT NULL, flow text NOT NULL, version integer NOT NULL,
            language text NOT NULL, direction text NOT NULL, seconds double precision NOT NULL);
        CREATE INDEX insight_waits_day ON insight_waits (flow, day);
        CREATE INDEX insight_waits_order ON insight_waits (flow, seconds, day, version, language);
        INSERT INTO insight_calls (call_sid, ended_at)
            SELECT call_sid, ended_at FROM calls WHERE ended_at IS NOT NULL
            ON CONFLICT (call_sid) DO NOTHING;
        """,
    ),
    SharedMigration(
        16,
        "product_names",
        # A product's name in each language the line speaks (JSON, `ivr.records.names_text`),
        # so a German caller hears "Kaffeevollautomat", not the English name inside a German
        # sentence. Added last in both tables: SQLite's positional inserts put it after imported_at.
        """
        ALTER TABLE warranties ADD COLUMN product_names text NOT NULL DEFAULT '';
        ALTER TABLE repairs ADD COLUMN product_names text NOT NULL DEFAULT '';
        """,
    ),
    SharedMigration(
        17,
        "agent_resume_status",
        # What an agent goes back to when an offer is over (the status they had when it rang:
        # an agent who took a caller while busy is busy again after the call), and when they
        # last missed one (the desk says why it set them busy). Agents on record so far resume
        # as available, which is what the desk did for everyone until now.
        """
        ALTER TABLE agent_states ADD COLUMN resume_status text NOT NULL DEFAULT 'available';
        ALTER TABLE agent_states ADD COLUMN missed_at double precision NOT NULL DEFAULT 0;
        """,
    ),
    SharedMigration(
        18,
        "returns",
        # Returns the line started (ivr.store.returns): one per product of an order, so a
        # product is never returned twice; the newest from a number is what its caller hears.
        # IF NOT EXISTS: a database whose version was set back (the upgrade tests rewind to
        # earlier releases that way) runs it again without harm.
        """
        CREATE TABLE IF NOT EXISTS returns (
            rma text PRIMARY KEY, order_number text NOT NULL, serial_number text NOT NULL,
            product text NOT NULL, caller text NOT NULL, reason text NOT NULL, status text NOT NULL,
            language text NOT NULL, started_on text NOT NULL, created_at double precision NOT NULL,
            UNIQUE (order_number, serial_number));
        CREATE INDEX IF NOT EXISTS returns_caller ON returns (caller, created_at);
        CREATE INDEX IF NOT EXISTS returns_created ON returns (created_at);
        CREATE INDEX IF NOT EXISTS warranties_order ON warranties (order_number);
        """,
    ),
    SharedMigration(
        19,
        "sign_in_notices",
        # Failed sign-ins to an account since its holder last signed in, told to them then:
        # guesses no longer lock an account, so its holder is the one who must hear of them.
        """
        ALTER TABLE accounts ADD COLUMN failed_sign_ins integer NOT NULL DEFAULT 0;
        ALTER TABLE accounts ADD COLUMN last_failed_at double precision NOT NULL DEFAULT 0;
        ALTER TABLE accounts ADD COLUMN last_failed_from text NOT NULL DEFAULT '';
        """,
    ),
    SharedMigration(
        20,
        "outreach_targets_number",
        # A campaign's claim asks, for each number it would call, whether any campaign is
        # calling that number now: one call per number at a time.
        """
        CREATE INDEX IF NOT EXISTS outreach_targets_number ON outreach_targets (number, state);
        """,
    ),
    SharedMigration(
        21,
        "event_outbox",
        # What the line tells the company (ivr.store.event_outbox): each event written in the
        # same transaction as the record it is about, then delivered by whichever instance
        # claims it first (a lease), retried until `give_up_at`, then a dead letter.
        """
        CREATE TABLE IF NOT EXISTS event_outbox (
            id text PRIMARY KEY, type text NOT NULL, body text NOT NULL,
            created_at double precision NOT NULL, state text NOT NULL, attempts integer NOT NULL,
            next_at double precision NOT NULL, give_up_at double precision NOT NULL,
            lease_until double precision NOT NULL, claimed_by text NOT NULL,
            last_error text NOT NULL, done_at double precision NOT NULL);
        CREATE INDEX IF NOT EXISTS event_outbox_due ON event_outbox (state, next_at);
        CREATE INDEX IF NOT EXISTS event_outbox_done ON event_outbox (state, done_at);
        """,
    ),
    SharedMigration(
        22,
        "repair_bookings",
        # Repairs the line booked (ivr.store.repair_bookings) and the slot calendar they take
        # from. A slot holds the number of the booking that took it ('' while free), so taking
        # it is one conditional UPDATE: of two callers (or instances) only one changes the row.
        # `open_key` (the product's serial number while the booking stands, NULL once cancelled)
        # keeps a product to one standing booking, however often a webhook is retried.
        """
        CREATE TABLE IF NOT EXISTS repair_slots (
            day text NOT NULL, part text NOT NULL, booking text NOT NULL DEFAULT '',
            created_by text NOT NULL DEFAULT '', created_at double precision NOT NULL,
            PRIMARY KEY (day, part));
        CREATE TABLE IF NOT EXISTS repair_bookings (
            number text PRIMARY KEY, open_key text UNIQUE, serial_number text NOT NULL,
            order_number text NOT NULL, product text NOT NULL, caller text NOT NULL,
            repair_option text NOT NULL, slot_day text NOT NULL, slot_part text NOT NULL,
            status text NOT NULL, covered integer NOT NULL,
            guide_outcome text NOT NULL, language text NOT NULL, booked_on text NOT NULL,
            created_at double precision NOT NULL, updated_at double precision NOT NULL);
        CREATE INDEX IF NOT EXISTS repair_bookings_caller ON repair_bookings (caller, created_at);
        CREATE INDEX IF NOT EXISTS repair_bookings_created ON repair_bookings (created_at);
        """,
    ),
    SharedMigration(
        25,
        "kept_optouts",
        # An opt-out outlives the erasure of the number's data, as a keyed digest
        # (ivr/store/suppressions.py); the key is random per deployment.
        """
        CREATE TABLE IF NOT EXISTS kept_optouts (digest text PRIMARY KEY, at double precision NOT NULL);
        CREATE TABLE IF NOT EXISTS privacy_key (id integer PRIMARY KEY CHECK (id = 1), secret text NOT NULL);
        """,
    ),
]

FORGET_OLD_COUNTS = "DELETE FROM lookup_counts WHERE day < $1"
"""Counts only ever matter for today: yesterday's go when today's are next written."""
ADD_TO_COUNT = (
    "INSERT INTO lookup_counts (day, caller, kind, count) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (day, caller, kind) DO UPDATE SET count = lookup_counts.count + excluded.count"
    " RETURNING count"
)
"""Add to one caller's count of one kind for one day, returning the new total (atomic in
both dialects, so two instances counting the same caller never lose an increment)."""
READ_COUNT = "SELECT count FROM lookup_counts WHERE day = $1 AND caller = $2 AND kind = $3"
"""One caller's count of one kind for one day, without writing: most look-ups only check the
limit, and a write transaction on every turn that checks it would cost a commit each."""

BULK_STATEMENTS = 50
"""A transaction longer than this (erasing a frequent caller's records, an import) is bulk work:
on SQLite it runs on the waiting connection's thread, not on the loop the calls run on."""
_PLACEHOLDER = re.compile(r"\$(\d+)")


def sqlite_query(query: str) -> str:
    """`$1` → `?1`: SQLite's numbered parameters mean the same thing."""
    return _PLACEHOLDER.sub(r"?\1", query)


def _rows(cursor: sqlite3.Cursor) -> list[Row]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


class SQLiteSql:
    """`Sql` on the SQLite database's own thread and connection."""

    def __init__(self, db: Any) -> None:
        self.db = db  # ivr.store.sqlite.SQLiteDatabase (not imported: it imports this module)

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return await self.db.run(lambda c: _rows(c.execute(sqlite_query(query), args)))

    async def fetch_bulk(self, query: str, *args: Any) -> list[Row]:
        return await self.db.run_in_thread(lambda c: _rows(c.execute(sqlite_query(query), args)))

    async def fetchone(self, query: str, *args: Any) -> Row | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def execute(self, query: str, *args: Any) -> int:
        return await self.db.run(lambda c: c.execute(sqlite_query(query), args).rowcount)

    async def atomic(self, statements: Sequence[Statement]) -> list[list[Row]]:
        def work(conn: sqlite3.Connection) -> list[list[Row]]:
            results: list[list[Row]] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for index, statement in enumerate(statements):
                    cursor = conn.execute(sqlite_query(statement.query), statement.args)
                    rows = _rows(cursor)
                    if statement.expect_rows is not None and cursor.rowcount != statement.expect_rows:
                        raise Conflict(index, statement.expect_rows, cursor.rowcount)
                    results.append(rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return results

        if len(statements) > BULK_STATEMENTS:
            return await self.db.run_in_thread(work)
        return await self.db.run(work)


def rows_changed(status: str) -> int:
    """Rows changed, from a command tag such as 'INSERT 0 1' or 'UPDATE 1' (0 for others)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


CALL_COLUMNS = "call_sid, seq, caller, status, outcome, started_at, ended_at"
"""The `calls` columns a live call's state is written without (`CallSession.COLUMNS`), in order."""
IDLE_CANDIDATES = (
    f"SELECT data, {CALL_COLUMNS} FROM calls WHERE status = 'in-progress' AND started_at < {{0}}"
    " ORDER BY started_at LIMIT {1}"
)
"""Calls in progress that started over `idle_for` ago ({0}, {1}: the dialect's placeholders):
only those can have been unwritten that long (the calls table keeps no write time)."""


def columns_of(row: Sequence[Any]) -> dict[str, Any]:
    """A `calls` row's `CALL_COLUMNS` (after its data) as the fields of its session."""
    return dict(zip(COLUMNS, row, strict=True))


def idle_calls(rows: Iterable[Sequence[Any]], idle_for: float, now: float) -> list[tuple[str, float]]:
    """(call sid, last written) of the candidates (data, then `CALL_COLUMNS`) idle for real."""
    found = []
    for row in rows:
        session = CallSession.from_json(row[0], columns_of(row[1:]))
        last = session.last_written()
        if now - last >= idle_for:
            found.append((session.call_sid, last))
    return found


def without_nul(text: str) -> str:
    """`text` with each NUL replaced by U+FFFD: PostgreSQL's text and jsonb refuse NUL (SQLite
    keeps it), and a NUL from a caller's words or a form failed the whole write with a 500."""
    return text.replace("\x00", "\ufffd")


def _pg_args(args: Sequence[Any]) -> tuple[Any, ...]:
    """Query arguments as PostgreSQL takes them: text (and lists of text) without NUL."""
    return tuple(
        without_nul(arg)
        if isinstance(arg, str)
        else [without_nul(item) if isinstance(item, str) else item for item in arg]
        if isinstance(arg, list)
        else arg
        for arg in args
    )


class PostgresSql:
    """`Sql` on an asyncpg pool (the queries already use `$1` placeholders)."""

    def __init__(self, db: Any) -> None:
        self.db = db  # ivr.store.postgres.PostgresDatabase

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self.db.pool.fetch(query, *_pg_args(args))]

    async def fetch_bulk(self, query: str, *args: Any) -> list[Row]:
        return await self.fetch(query, *args)  # the server scans; the loop only awaits

    async def fetchone(self, query: str, *args: Any) -> Row | None:
        row = await self.db.pool.fetchrow(query, *_pg_args(args))
        return dict(row) if row is not None else None

    async def execute(self, query: str, *args: Any) -> int:
        return rows_changed(await self.db.pool.execute(query, *_pg_args(args)))

    async def atomic(self, statements: Sequence[Statement]) -> list[list[Row]]:
        results: list[list[Row]] = []
        async with self.db.pool.acquire() as conn, conn.transaction():
            for index, statement in enumerate(statements):
                if "returning" in statement.query.lower():
                    records = await conn.fetch(statement.query, *_pg_args(statement.args))
                    rows: list[Row] = [dict(r) for r in records]
                    changed = len(rows)
                else:
                    changed = rows_changed(await conn.execute(statement.query, *_pg_args(statement.args)))
                    rows = []
                if statement.expect_rows is not None and changed != statement.expect_rows:
                    raise Conflict(index, statement.expect_rows, changed)
                results.append(rows)
        return results
