"""PostgreSQL behind the store interfaces: for several instances sharing one database.

The schema is not created on open, unlike SQLite: an operator runs `ivr db upgrade`,
which applies the numbered migrations below under an advisory lock, and a server
refuses to start on a database whose migrations do not match its code. Tables and
semantics mirror `ivr.store.sqlite`: `save` is compare-and-set on `seq`, `upsert` is
all or nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import orjson

from ivr.config import ConfigError
from ivr.records import (
    Order,
    OrderStatus,
    Repair,
    RepairStatus,
    Warranty,
    WarrantyPlan,
    names_from,
    names_text,
)
from ivr.session import FINAL_STATUSES, CallSession, assembled, lines_json
from ivr.store.base import IDLE_BATCH, CallSummary
from ivr.store.sql import (
    ADD_TO_COUNT,
    CALL_COLUMNS,
    FORGET_OLD_COUNTS,
    IDLE_CANDIDATES,
    READ_COUNT,
    SHARED_MIGRATIONS,
    columns_of,
    idle_calls,
    rows_changed,
    without_nul,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    """Applied in ascending order; recorded in `schema_migrations` once applied."""
    name: str
    sql: str
    """One or more statements, run in one transaction with the target schema first
    on the search path, so table names are unqualified."""

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "initial",
        """
        CREATE TABLE orders (
            order_number text PRIMARY KEY, phone text NOT NULL, customer_name text NOT NULL,
            postal_code text NOT NULL, status text NOT NULL, carrier text NOT NULL,
            tracking_number text NOT NULL, placed_on date, ship_date date, eta date,
            imported_at timestamptz NOT NULL);
        CREATE TABLE warranties (
            serial_number text PRIMARY KEY, order_number text NOT NULL, product text NOT NULL,
            purchased_on date, expires_on date, plan text NOT NULL, imported_at timestamptz NOT NULL);
        CREATE TABLE repairs (
            ticket_number text PRIMARY KEY, serial_number text NOT NULL, phone text NOT NULL,
            product text NOT NULL, status text NOT NULL, updated_on date, eta date,
            imported_at timestamptz NOT NULL);
        CREATE TABLE calls (
            call_sid text PRIMARY KEY, seq integer NOT NULL, data jsonb NOT NULL,
            caller text NOT NULL, status text NOT NULL, outcome text NOT NULL,
            started_at double precision NOT NULL, ended_at double precision);
        CREATE INDEX calls_started ON calls (started_at);
        """,
    ),
    *(Migration(m.version, m.name, m.sql) for m in SHARED_MIGRATIONS),
    Migration(
        11,
        "insight_filing",
        # A call's record filed for the insights (see `ivr.store.sql`'s migration 10) in the
        # statement that ends it: nothing extra on the webhook's path, nothing lost in between.
        """
        CREATE FUNCTION insight_file_call() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            IF NEW.ended_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.ended_at IS NULL) THEN
                INSERT INTO insight_calls (call_sid, ended_at) VALUES (NEW.call_sid, NEW.ended_at)
                ON CONFLICT (call_sid) DO NOTHING;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER calls_insight_filing AFTER INSERT OR UPDATE OF ended_at ON calls
        FOR EACH ROW EXECUTE FUNCTION insight_file_call();
        """,
    ),
    Migration(
        15,
        "insight_filing_in_order",
        # Filing a call cheaper (as on SQLite): `insight_calls` had two indexes (the call, the
        # end time); now one, its primary key (ended_at, call_sid), in the order the calls end
        # and are counted, so a call's filing adds one index entry, at the index's end.
        """
        ALTER TABLE insight_calls DROP CONSTRAINT insight_calls_pkey;
        DROP INDEX insight_calls_ended;
        ALTER TABLE insight_calls ADD PRIMARY KEY (ended_at, call_sid);
        CREATE OR REPLACE FUNCTION insight_file_call() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            IF NEW.ended_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.ended_at IS NULL) THEN
                INSERT INTO insight_calls (call_sid, ended_at) VALUES (NEW.call_sid, NEW.ended_at)
                ON CONFLICT DO NOTHING;
            END IF;
            RETURN NEW;
        END $$;
        """,
    ),
    Migration(
        24,
        "call_turns",
        # A turn writes a small state row and appends its own row (see `PostgresSessionStore`).
        """
        CREATE TABLE IF NOT EXISTS call_turns (
            call_sid text NOT NULL, seq integer NOT NULL, lines text NOT NULL, answer text NOT NULL,
            PRIMARY KEY (call_sid, seq));
        """,
    ),
]
MIGRATIONS.sort(key=lambda m: m.version)  # in the order they are applied (the shared ones interleave)

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema_ident(schema: str) -> str:
    """The schema as a quoted identifier; only plain lower-case names are accepted."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(f"schema '{schema}' must be lower-case letters, digits and '_' (at most 63)")
    return f'"{schema}"'


def _lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory lock key per schema (the same in every process)."""
    digest = hashlib.sha256(f"ivr.schema_migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def upgrade(url: str, *, schema: str = "public") -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction.

    Returns the labels of the migrations applied (empty when already up to date). An
    advisory lock held for the whole run makes concurrent upgrades take turns: the
    second one finds everything applied and does nothing.
    """
    ident = _schema_ident(schema)
    applied: list[str] = []
    conn: asyncpg.Connection = await asyncpg.connect(url)
    try:
        # Session-level: held across the per-migration transactions, released when the
        # connection closes (also if this process dies mid-upgrade).
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {ident}.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {ident}.schema_migrations")
        done = {row["version"] for row in rows}
        for migration in sorted(MIGRATIONS, key=lambda m: m.version):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {ident}")
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {ident}.schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.label)
    finally:
        await conn.close()
    return applied


QUERY_TIMEOUT = 3.0
"""Seconds one query may take before the turn fails over to the apology and an agent."""


class PostgresDatabase:
    """A connection pool on one schema; `open()` checks the schema is up to date."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        self.url = url
        self.schema = schema
        self._ident = _schema_ident(schema)
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresDatabase.open() has not been awaited")
        return self._pool

    async def open(self) -> None:
        if self._pool is not None:
            return
        # Timeouts: a locked table or a stalled link must fail a turn within seconds (the caller
        # then hears the apology and reaches an agent), never hang it until Twilio gives up.
        pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=10,
            command_timeout=QUERY_TIMEOUT,
            server_settings={"search_path": self._ident, "statement_timeout": str(int(QUERY_TIMEOUT * 1000))},
        )
        try:
            await self._check_migrations(pool)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _check_migrations(self, pool: asyncpg.Pool) -> None:
        table = f"{self._ident}.schema_migrations"
        async with pool.acquire() as conn:
            versions: set[int] = set()
            if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
                versions = {row["version"] for row in await conn.fetch(f"SELECT version FROM {table}")}
        known = {m.version for m in MIGRATIONS}
        if missing := sorted(known - versions):
            raise ConfigError(
                f"the PostgreSQL schema '{self.schema}' is missing migration(s) "
                f"{', '.join(map(str, missing))}: run `ivr db upgrade` first"
            )
        if unknown := sorted(versions - known):
            raise ConfigError(
                f"the PostgreSQL schema '{self.schema}' is from a newer version "
                f"(migration(s) {', '.join(map(str, unknown))}): upgrade this service"
            )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def drop_schema(self) -> None:
        """Drop this schema and everything in it (test clean-up); never 'public'."""
        if self.schema == "public":
            raise ConfigError("refusing to drop the 'public' schema")
        sql = f"DROP SCHEMA IF EXISTS {self._ident} CASCADE"
        if self._pool is not None:
            await self._pool.execute(sql)
            return
        conn: asyncpg.Connection = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


_CALL_UPSERT = (
    "INSERT INTO calls (call_sid, seq, data, caller, status, outcome, started_at, ended_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def _jsonb(session: CallSession, *, whole: bool = True) -> str:
    """The session (whole, or its state) as JSON that `jsonb` takes: PostgreSQL refuses the NUL
    character (`\\u0000`) in it, and one NUL in what a caller said made every save fail."""
    text = session.to_json() if whole else session.state_json(columns=False)
    if "\\u0000" not in text:  # nearly always: no NUL anywhere (or an escaped backslash before 'u0000')
        return text
    return orjson.dumps(_replace_nul(orjson.loads(text))).decode()


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, list):
        return [_replace_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): _replace_nul(item) for key, item in value.items()}
    return value


_TURN = (
    " INSERT INTO call_turns (call_sid, seq, lines, answer)"
    " SELECT call_sid, {seq}, {lines}, {answer} FROM {done}"
    " ON CONFLICT (call_sid, seq) DO UPDATE SET lines = excluded.lines, answer = excluded.answer"
)
"""A turn's own row, written in the statement that writes its state (one round trip)."""


class PostgresSessionStore:
    """Live calls as a small state row in `calls` and a row per turn in `call_turns`; a call
    that ends is filed whole in `calls` (its turns folded in) beside the finished records."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    @staticmethod
    def _row(session: CallSession) -> tuple[Any, ...]:
        return (
            without_nul(session.call_sid),
            session.seq,
            _jsonb(session),
            without_nul(session.caller),
            without_nul(session.status),
            without_nul(session.outcome),
            session.started_at,
            session.ended_at,
        )

    async def load(self, call_sid: str) -> CallSession | None:
        row = await self.db.pool.fetchrow(
            f"SELECT data, {CALL_COLUMNS},"
            " ARRAY(SELECT lines FROM call_turns t WHERE t.call_sid = $1 ORDER BY seq) AS turns"
            " FROM calls WHERE call_sid = $1",
            call_sid,
        )
        if row is None:
            return None
        return assembled(row["data"], row["turns"], columns_of(tuple(row)[1:-1]))

    async def load_state(self, call_sid: str) -> CallSession | None:
        row = await self.db.pool.fetchrow(
            f"SELECT data, {CALL_COLUMNS} FROM calls WHERE call_sid = $1", call_sid
        )
        if row is None:
            return None
        session = CallSession.from_json(row["data"], columns_of(tuple(row)[1:]))
        session.whole = False
        return session

    async def answer(self, call_sid: str, seq: int) -> str | None:
        found: str | None = await self.db.pool.fetchval(
            "SELECT answer FROM call_turns WHERE call_sid = $1 AND seq = $2", call_sid, seq
        )
        return found or None

    async def create(self, session: CallSession) -> bool:
        state = self._row(session)
        status = await self.db.pool.execute(
            "WITH created AS (INSERT INTO calls (call_sid, seq, data, caller, status, outcome, started_at,"
            " ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_sid) DO NOTHING"
            " RETURNING call_sid)" + _TURN.format(seq="$2", lines="$9", answer="$10", done="created"),
            *state[:2],
            _jsonb(session, whole=False),
            *state[3:],
            without_nul(lines_json(session.new_lines())),
            without_nul(session.answer),
        )
        if created := rows_changed(status) == 1:
            session.stored_lines = len(session.transcript)
        return created

    async def save(self, session: CallSession, expected_seq: int) -> bool:
        final = session.status in FINAL_STATUSES
        if final and not session.whole:
            raise ValueError("a call is filed whole: end it on a session from load(), not load_state()")
        update = (
            "WITH saved AS (UPDATE calls SET seq = $1, data = $2, status = $3, outcome = $4, ended_at = $5"
            " WHERE call_sid = $6 AND seq = $7 RETURNING call_sid)"
        )
        args = (
            session.seq,
            _jsonb(session, whole=final),
            without_nul(session.status),
            without_nul(session.outcome),
            session.ended_at,
            without_nul(session.call_sid),
            expected_seq,
        )
        if final:  # filed whole: its turns are folded into the record
            saved = await self.db.pool.fetchval(
                update + ", folded AS (DELETE FROM call_turns WHERE call_sid IN (SELECT call_sid FROM saved))"
                " SELECT count(*) FROM saved",
                *args,
            )
        else:
            status = await self.db.pool.execute(
                update + _TURN.format(seq="$1", lines="$8", answer="$9", done="saved"),
                *args,
                without_nul(lines_json(session.new_lines())),
                without_nul(session.answer),
            )
            saved = rows_changed(status)
        if saved == 1:
            session.stored_lines = len(session.transcript)
        return bool(saved == 1)

    async def idle(self, idle_for: float) -> Sequence[tuple[str, float]]:
        now = time.time()
        rows = await self.db.pool.fetch(IDLE_CANDIDATES.format("$1", "$2"), now - idle_for, IDLE_BATCH)
        return idle_calls((tuple(row) for row in rows), idle_for, now)

    async def list_calls(self, limit: int = 50) -> Sequence[CallSummary]:
        rows = await self.db.pool.fetch(
            "SELECT call_sid, caller, started_at, ended_at, status, outcome, seq FROM calls"
            " ORDER BY started_at DESC LIMIT $1",
            limit,
        )
        return [
            CallSummary(
                call_sid=row["call_sid"],
                caller=row["caller"],
                started_at=row["started_at"],
                ended_at=row["ended_at"],
                status=row["status"],
                outcome=row["outcome"],
                turns=row["seq"],
            )
            for row in rows
        ]

    async def get_call(self, call_sid: str) -> CallSession | None:
        return await self.load(call_sid)

    async def purge(self, started_before: float) -> int:
        tag = await self.db.pool.execute(
            "DELETE FROM calls WHERE started_at < $1 AND status != 'in-progress'", started_before
        )
        return int(tag.split()[-1])

    async def archive(self, session: CallSession) -> None:
        await self.db.pool.execute(
            "WITH filed AS (" + _CALL_UPSERT + " ON CONFLICT (call_sid) DO UPDATE SET seq = excluded.seq,"
            " data = excluded.data, status = excluded.status, outcome = excluded.outcome,"
            " ended_at = excluded.ended_at RETURNING call_sid)"
            " DELETE FROM call_turns WHERE call_sid IN (SELECT call_sid FROM filed)",
            *self._row(session),
        )


_ORDER_UPSERT = (
    "INSERT INTO orders (order_number, phone, customer_name, postal_code, status, carrier,"
    " tracking_number, placed_on, ship_date, eta, imported_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) ON CONFLICT (order_number)"
    " DO UPDATE SET phone = excluded.phone, customer_name = excluded.customer_name,"
    " postal_code = excluded.postal_code, status = excluded.status,"
    " carrier = excluded.carrier, tracking_number = excluded.tracking_number,"
    " placed_on = excluded.placed_on, ship_date = excluded.ship_date, eta = excluded.eta,"
    " imported_at = excluded.imported_at"
)
_WARRANTY_UPSERT = (
    "INSERT INTO warranties (serial_number, order_number, product, purchased_on, expires_on, plan,"
    " product_names, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (serial_number)"
    " DO UPDATE SET order_number = excluded.order_number, product = excluded.product,"
    " purchased_on = excluded.purchased_on, expires_on = excluded.expires_on,"
    " plan = excluded.plan, product_names = excluded.product_names, imported_at = excluded.imported_at"
)
_REPAIR_UPSERT = (
    "INSERT INTO repairs (ticket_number, serial_number, phone, product, status, updated_on, eta,"
    " product_names, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) ON CONFLICT (ticket_number)"
    " DO UPDATE SET serial_number = excluded.serial_number, phone = excluded.phone,"
    " product = excluded.product, status = excluded.status,"
    " updated_on = excluded.updated_on, eta = excluded.eta,"
    " product_names = excluded.product_names, imported_at = excluded.imported_at"
)


_ORDER_COLUMNS = (
    "order_number, phone, customer_name, postal_code, status, carrier, tracking_number,"
    " placed_on, ship_date, eta"
)
_REPAIR_COLUMNS = "ticket_number, serial_number, phone, product, status, updated_on, eta, product_names"


def _order(row: asyncpg.Record) -> Order:
    return Order(
        row["order_number"],
        row["phone"],
        row["customer_name"],
        row["postal_code"],
        OrderStatus(row["status"]),
        row["carrier"],
        row["tracking_number"],
        row["placed_on"],
        row["ship_date"],
        row["eta"],
    )


def _repair(row: asyncpg.Record) -> Repair:
    return Repair(
        row["ticket_number"],
        row["serial_number"],
        row["phone"],
        row["product"],
        RepairStatus(row["status"]),
        row["updated_on"],
        row["eta"],
        names_from(row["product_names"]),
    )


class PostgresRepository:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def order(self, order_number: str) -> Order | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_number = $1", order_number
        )
        return _order(row) if row is not None else None

    async def orders_of(self, phone: str) -> list[Order]:
        rows = await self.db.pool.fetch(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE phone = $1", phone)
        return [_order(row) for row in rows]

    async def warranty(self, serial_number: str) -> Warranty | None:
        row = await self.db.pool.fetchrow(
            "SELECT serial_number, order_number, product, purchased_on, expires_on, plan, product_names"
            " FROM warranties WHERE serial_number = $1",
            serial_number,
        )
        if row is None:
            return None
        return Warranty(
            row["serial_number"],
            row["order_number"],
            row["product"],
            row["purchased_on"],
            row["expires_on"],
            WarrantyPlan(row["plan"]),
            names_from(row["product_names"]),
        )

    async def repair(self, ticket_number: str) -> Repair | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_REPAIR_COLUMNS} FROM repairs WHERE ticket_number = $1", ticket_number
        )
        return _repair(row) if row is not None else None

    async def repairs_of(self, phone: str) -> list[Repair]:
        rows = await self.db.pool.fetch(f"SELECT {_REPAIR_COLUMNS} FROM repairs WHERE phone = $1", phone)
        return [_repair(row) for row in rows]

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        if add == 0:
            return int(await self.db.pool.fetchval(READ_COUNT, day.isoformat(), caller, kind) or 0)
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.execute(FORGET_OLD_COUNTS, day.isoformat())
            total = await conn.fetchval(ADD_TO_COUNT, day.isoformat(), caller, kind, add)
        return int(total)

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        if not records:
            return 0
        first = records[0]
        rows: list[tuple[Any, ...]]
        if isinstance(first, Order):
            sql = _ORDER_UPSERT
            rows = [
                (
                    o.order_number,
                    o.phone,
                    o.customer_name,
                    o.postal_code,
                    o.status.value,
                    o.carrier,
                    o.tracking_number,
                    o.placed_on,
                    o.ship_date,
                    o.eta,
                )
                for o in records
                if isinstance(o, Order)
            ]
        elif isinstance(first, Warranty):
            sql = _WARRANTY_UPSERT
            rows = [
                (
                    w.serial_number,
                    w.order_number,
                    w.product,
                    w.purchased_on,
                    w.expires_on,
                    w.plan.value,
                    names_text(w.product_names),
                )
                for w in records
                if isinstance(w, Warranty)
            ]
        else:
            sql = _REPAIR_UPSERT
            rows = [
                (
                    r.ticket_number,
                    r.serial_number,
                    r.phone,
                    r.product,
                    r.status.value,
                    r.updated_on,
                    r.eta,
                    names_text(r.product_names),
                )
                for r in records
                if isinstance(r, Repair)
            ]
        if len(rows) != len(records):
            raise TypeError("one upsert takes records of a single kind")
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.executemany(sql, rows)
        return len(rows)
