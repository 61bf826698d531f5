"""SQLite behind the store interfaces: the embedded default.

A webhook's queries (load a call, look up an order, save the turn) each take a few
microseconds to a few tens of microseconds, so they run right on the event loop: sending
each one to a thread and back cost more than the query (a third of a turn's time went to
the hand-over and the two threads taking turns at the GIL). Two things can make a query
slow, and neither is allowed to stall the loop:

- another process holding the write lock (a second `ivr serve --workers` process, `ivr
  import`): the loop's connection does not wait for locks (`busy_timeout` 0), and a query
  that finds the database locked is sent to the waiting connection on its own thread,
  which waits up to `BUSY_TIMEOUT` seconds as every query used to;
- bulk work (an import, a purge of old calls): it goes to that thread to begin with
  (`run_in_thread`).

Durability: WAL mode with `synchronous = NORMAL`. Each statement commits on its own (or in
one `BEGIN IMMEDIATE` transaction), and a commit is in the WAL file, in the operating
system's hands, before the webhook is answered: a crash or kill of `ivr serve` loses no
answered turn. A power cut or kernel crash may lose the last commits before the next WAL
sync (checkpoint), which `synchronous = FULL` would prevent at the cost of an fsync a turn.
WAL also lets `ivr import` and `ivr calls` read and write while a server is running.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

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
    sqlite_query,
)

T = TypeVar("T")

FILING_TRIGGERS = """
CREATE TRIGGER calls_insight_filing_insert AFTER INSERT ON calls WHEN NEW.ended_at IS NOT NULL
BEGIN INSERT OR IGNORE INTO insight_calls (call_sid, ended_at) VALUES (NEW.call_sid, NEW.ended_at); END;
CREATE TRIGGER calls_insight_filing_update AFTER UPDATE OF ended_at ON calls
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN INSERT OR IGNORE INTO insight_calls (call_sid, ended_at) VALUES (NEW.call_sid, NEW.ended_at); END;
"""
"""A call's record filed for the insights (see `ivr.store.sql`'s migration 10) in the
statement that ends it: nothing extra on the webhook's path, nothing lost in between
(migration 11, and again in 15 after the table is rebuilt)."""

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE orders (
        order_number TEXT PRIMARY KEY, phone TEXT NOT NULL, customer_name TEXT NOT NULL,
        postal_code TEXT NOT NULL, status TEXT NOT NULL, carrier TEXT NOT NULL,
        tracking_number TEXT NOT NULL, placed_on TEXT, ship_date TEXT, eta TEXT,
        imported_at REAL NOT NULL);
    CREATE TABLE warranties (
        serial_number TEXT PRIMARY KEY, order_number TEXT NOT NULL, product TEXT NOT NULL,
        purchased_on TEXT, expires_on TEXT, plan TEXT NOT NULL, imported_at REAL NOT NULL);
    CREATE TABLE repairs (
        ticket_number TEXT PRIMARY KEY, serial_number TEXT NOT NULL, phone TEXT NOT NULL,
        product TEXT NOT NULL, status TEXT NOT NULL, updated_on TEXT, eta TEXT,
        imported_at REAL NOT NULL);
    CREATE TABLE calls (
        call_sid TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL,
        caller TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT NOT NULL,
        started_at REAL NOT NULL, ended_at REAL);
    CREATE INDEX calls_started ON calls (started_at);
    """,
    **{migration.version: migration.sql for migration in SHARED_MIGRATIONS},
    11: FILING_TRIGGERS,
    # Filing a call cheaper: `insight_calls` was a rowid table with two indexes (the call,
    # the end time), three B-trees and so three more pages written at the end of every call,
    # one of them at a random place. Now it is one B-tree keyed by (ended_at, call_sid), in
    # the order the calls end and are counted: a call's filing is appended to its last page.
    # The filed calls are carried over; the triggers (same as 11) are made again, after the
    # table they write to.
    15: """
    DROP TRIGGER calls_insight_filing_insert;
    DROP TRIGGER calls_insight_filing_update;
    CREATE TABLE insight_filed (
        ended_at double precision NOT NULL, call_sid text NOT NULL,
        PRIMARY KEY (ended_at, call_sid)) WITHOUT ROWID;
    INSERT INTO insight_filed (ended_at, call_sid) SELECT ended_at, call_sid FROM insight_calls;
    DROP TABLE insight_calls;
    ALTER TABLE insight_filed RENAME TO insight_calls;
    """
    + FILING_TRIGGERS,
    # A turn writes a small state row and appends its own row (see `SQLiteSessionStore`):
    # one B-tree keyed by (call, turn), so a call's turns sit together and its ending deletes
    # them in one range.
    24: """
    CREATE TABLE IF NOT EXISTS call_turns (
        call_sid TEXT NOT NULL, seq INTEGER NOT NULL, lines TEXT NOT NULL, answer TEXT NOT NULL,
        PRIMARY KEY (call_sid, seq)) WITHOUT ROWID;
    """,
}
SCHEMA_VERSION = max(_MIGRATIONS)
"""`PRAGMA user_version` once every migration ran: each migration sets it to its own version.
Versions may leave gaps (a version reserved by work not merged yet); they only ever increase."""
assert len(_MIGRATIONS) == len(SHARED_MIGRATIONS) + 4, "two migrations share a version"


def script_statements(script: str) -> list[str]:
    """The statements of a migration, split at the semicolons that end them (not those
    inside a trigger's BEGIN … END)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current)
            current = ""
    return statements


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/file.db` or `sqlite:////absolute/file.db`."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"IVR_DATABASE_URL '{url}' is not supported: use sqlite:///path/to/file.db")
    return Path(url[len(prefix) :])


BUSY_TIMEOUT = 10.0
"""Seconds a query waits for another process's write lock before it fails."""


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, in any of its extended forms: another connection holds the lock."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class SQLiteDatabase:
    """Two connections to one file: one on the event loop for quick queries, one on a
    dedicated thread for queries that wait (locked database, bulk work)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        """The waiting connection; used only on the executor's thread."""
        self._loop_conn: sqlite3.Connection | None = None
        """The connection that never waits; used only on the event loop."""

    async def open(self) -> None:
        await self._loop_connection()

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None

        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        if self._conn is not None:
            await self.run_in_thread(shut)
        self._executor.shutdown(wait=True)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the event loop, or on the thread if the database is locked.

        `work` must be one statement or one transaction (`BEGIN IMMEDIATE` ... `COMMIT`), so
        that when it meets a lock it has changed nothing and can run again on the thread."""
        conn = await self._loop_connection()
        try:
            return work(conn)
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
        return await self.run_in_thread(work)

    async def run_in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the waiting connection's thread: for bulk work, and when locked."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    async def _loop_connection(self) -> sqlite3.Connection:
        if self._loop_conn is None:
            await self.run_in_thread(lambda _: None)  # creates the file and runs the migrations
            if self._loop_conn is None:  # another task may have opened it meanwhile
                self._loop_conn = self._open_connection(busy_timeout=0.0)
        return self._loop_conn

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return work(self._conn)

    def _open_connection(self, *, busy_timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._open_connection(busy_timeout=BUSY_TIMEOUT)
        conn.execute("PRAGMA journal_mode = WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"the database {self.path} is from a newer version (schema {version})")
        for number in sorted(n for n in _MIGRATIONS if n > version):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] < number:
                    for statement in script_statements(_MIGRATIONS[number]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return conn


def _row(session: CallSession) -> tuple[object, ...]:
    """The `calls` columns of a whole record, in the order the INSERTs name them."""
    return (
        session.call_sid,
        session.seq,
        session.to_json(),
        session.caller,
        session.status,
        session.outcome,
        session.started_at,
        session.ended_at,
    )


_TURN = (
    "INSERT INTO call_turns (call_sid, seq, lines, answer) VALUES (?, ?, ?, ?) ON CONFLICT (call_sid, seq)"
    " DO UPDATE SET lines = excluded.lines, answer = excluded.answer"
)
"""A turn's own row: its transcript lines and its answer (replaced if the turn number was
used before, by a write that ended without one, such as a privacy erasure)."""


_STATE = f"SELECT data, {CALL_COLUMNS} FROM calls WHERE call_sid = ?"
"""A call's state: its JSON, and the fields kept as columns beside it."""


def _turn(session: CallSession) -> tuple[object, ...]:
    return (session.call_sid, session.seq, lines_json(session.new_lines()), session.answer)


def _written(session: CallSession) -> None:
    """The session's lines are in the store now: a later save of it appends only newer ones."""
    session.stored_lines = len(session.transcript)


class SQLiteSessionStore:
    """Live calls as a small state row in `calls` and a row per turn in `call_turns`; a call
    that ends is filed whole in `calls` (its turns folded in) beside the finished records."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def load(self, call_sid: str) -> CallSession | None:
        def read(c: sqlite3.Connection) -> tuple[tuple[Any, ...], list[str]] | None:
            c.execute("BEGIN")  # one snapshot: the state and the turns it counts
            try:
                row = c.execute(_STATE, (call_sid,)).fetchone()
                turns = c.execute(
                    "SELECT lines FROM call_turns WHERE call_sid = ? ORDER BY seq", (call_sid,)
                ).fetchall()
            finally:
                c.execute("COMMIT")
            return (row, [turn[0] for turn in turns]) if row else None

        found = await self.db.run(read)
        if found is None:
            return None
        row, turns = found
        return assembled(row[0], turns, columns_of(row[1:]))

    async def load_state(self, call_sid: str) -> CallSession | None:
        row = await self.db.run(lambda c: c.execute(_STATE, (call_sid,)).fetchone())
        if row is None:
            return None
        session = CallSession.from_json(row[0], columns_of(row[1:]))
        session.whole = False
        return session

    async def answer(self, call_sid: str, seq: int) -> str | None:
        row = await self.db.run(
            lambda c: c.execute(
                "SELECT answer FROM call_turns WHERE call_sid = ? AND seq = ?", (call_sid, seq)
            ).fetchone()
        )
        return row[0] if row and row[0] else None

    async def create(self, session: CallSession) -> bool:
        state = (
            session.call_sid,
            session.seq,
            session.state_json(columns=False),
            session.caller,
            session.status,
            session.outcome,
            session.started_at,
            session.ended_at,
        )
        turn = _turn(session)

        def write(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                created = c.execute(
                    "INSERT INTO calls (call_sid, seq, data, caller, status, outcome, started_at, ended_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid) DO NOTHING",
                    state,
                ).rowcount
                if created:
                    c.execute(_TURN, turn)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return created == 1

        if created := await self.db.run(write):
            _written(session)
        return created

    async def save(self, session: CallSession, expected_seq: int) -> bool:
        final = session.status in FINAL_STATUSES
        if final and not session.whole:
            raise ValueError("a call is filed whole: end it on a session from load(), not load_state()")
        values = (
            session.seq,
            session.to_json() if final else session.state_json(columns=False),
            session.status,
            session.outcome,
            session.ended_at,
            session.call_sid,
            expected_seq,
        )
        turn = _turn(session)

        def write(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                saved = c.execute(
                    "UPDATE calls SET seq = ?, data = ?, status = ?, outcome = ?, ended_at = ?"
                    " WHERE call_sid = ? AND seq = ?",
                    values,
                ).rowcount
                if saved and final:
                    c.execute("DELETE FROM call_turns WHERE call_sid = ?", (session.call_sid,))
                elif saved:
                    c.execute(_TURN, turn)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return saved == 1

        if saved := await self.db.run(write):
            _written(session)
        return saved

    async def idle(self, idle_for: float) -> Sequence[tuple[str, float]]:
        now = time.time()
        rows = await self.db.run(
            lambda c: c.execute(IDLE_CANDIDATES.format("?", "?"), (now - idle_for, IDLE_BATCH)).fetchall()
        )
        return idle_calls(rows, idle_for, now)

    async def list_calls(self, limit: int = 50) -> Sequence[CallSummary]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT call_sid, caller, started_at, ended_at, status, outcome, seq FROM calls"
                " ORDER BY started_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [CallSummary(*row) for row in rows]

    async def get_call(self, call_sid: str) -> CallSession | None:
        return await self.load(call_sid)

    async def purge(self, started_before: float) -> int:
        cursor = await self.db.run_in_thread(
            lambda c: c.execute(
                "DELETE FROM calls WHERE started_at < ? AND status != 'in-progress'", (started_before,)
            )
        )
        return cursor.rowcount

    async def archive(self, session: CallSession) -> None:
        values = _row(session)

        def write(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    "INSERT INTO calls (call_sid, seq, data, caller, status, outcome, started_at, ended_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid) DO UPDATE SET"
                    " seq = excluded.seq, data = excluded.data, status = excluded.status,"
                    " outcome = excluded.outcome, ended_at = excluded.ended_at",
                    values,
                )
                c.execute("DELETE FROM call_turns WHERE call_sid = ?", (session.call_sid,))  # filed whole
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        await self.db.run(write)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


_ORDER_COLUMNS = (
    "order_number, phone, customer_name, postal_code, status, carrier, tracking_number,"
    " placed_on, ship_date, eta"
)
_REPAIR_COLUMNS = "ticket_number, serial_number, phone, product, status, updated_on, eta, product_names"


def _order(row: tuple[Any, ...]) -> Order:
    number, phone, name, postal_code = row[:4]
    return Order(
        number,
        phone,
        name,
        postal_code,
        OrderStatus(row[4]),
        row[5],
        row[6],
        _day(row[7]),
        _day(row[8]),
        _day(row[9]),
    )


def _repair(row: tuple[Any, ...]) -> Repair:
    return Repair(
        row[0], row[1], row[2], row[3], RepairStatus(row[4]), _day(row[5]), _day(row[6]), names_from(row[7])
    )


class SQLiteRepository:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def _one(self, sql: str, key: str) -> tuple[Any, ...] | None:
        return await self._one_of(sql, (key,))

    async def _one_of(self, sql: str, args: tuple[object, ...]) -> tuple[Any, ...] | None:
        return await self.db.run(lambda c: c.execute(sql, args).fetchone())

    async def _all(self, sql: str, key: str) -> list[tuple[Any, ...]]:
        return await self.db.run(lambda c: c.execute(sql, (key,)).fetchall())

    async def order(self, order_number: str) -> Order | None:
        row = await self._one(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_number = ?", order_number)
        return _order(row) if row else None

    async def orders_of(self, phone: str) -> list[Order]:
        rows = await self._all(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE phone = ?", phone)
        return [_order(row) for row in rows]

    async def warranty(self, serial_number: str) -> Warranty | None:
        row = await self._one(
            "SELECT serial_number, order_number, product, purchased_on, expires_on, plan, product_names"
            " FROM warranties WHERE serial_number = ?",
            serial_number,
        )
        if row is None:
            return None
        return Warranty(
            row[0], row[1], row[2], _day(row[3]), _day(row[4]), WarrantyPlan(row[5]), names_from(row[6])
        )

    async def repair(self, ticket_number: str) -> Repair | None:
        row = await self._one(f"SELECT {_REPAIR_COLUMNS} FROM repairs WHERE ticket_number = ?", ticket_number)
        return _repair(row) if row else None

    async def repairs_of(self, phone: str) -> list[Repair]:
        rows = await self._all(f"SELECT {_REPAIR_COLUMNS} FROM repairs WHERE phone = ?", phone)
        return [_repair(row) for row in rows]

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        if add == 0:
            row = await self._one_of(sqlite_query(READ_COUNT), (day.isoformat(), caller, kind))
            return int(row[0]) if row else 0

        def write(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                today = day.isoformat()
                conn.execute(sqlite_query(FORGET_OLD_COUNTS), (today,))
                total = conn.execute(sqlite_query(ADD_TO_COUNT), (today, caller, kind, add)).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(total[0])

        return await self.db.run(write)

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        if not records:
            return 0
        now = time.time()
        first = records[0]
        rows: list[tuple[str | float | None, ...]]  # one SQL row per record, whatever its kind
        if isinstance(first, Order):
            sql = (
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_number)"
                " DO UPDATE SET phone = excluded.phone, customer_name = excluded.customer_name,"
                " postal_code = excluded.postal_code, status = excluded.status,"
                " carrier = excluded.carrier, tracking_number = excluded.tracking_number,"
                " placed_on = excluded.placed_on, ship_date = excluded.ship_date, eta = excluded.eta,"
                " imported_at = excluded.imported_at"
            )
            rows = [
                (
                    o.order_number,
                    o.phone,
                    o.customer_name,
                    o.postal_code,
                    o.status.value,
                    o.carrier,
                    o.tracking_number,
                    _iso(o.placed_on),
                    _iso(o.ship_date),
                    _iso(o.eta),
                    now,
                )
                for o in records
                if isinstance(o, Order)
            ]
        elif isinstance(first, Warranty):
            sql = (
                "INSERT INTO warranties VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial_number)"
                " DO UPDATE SET order_number = excluded.order_number, product = excluded.product,"
                " purchased_on = excluded.purchased_on, expires_on = excluded.expires_on,"
                " plan = excluded.plan, imported_at = excluded.imported_at,"
                " product_names = excluded.product_names"
            )
            rows = [
                (
                    w.serial_number,
                    w.order_number,
                    w.product,
                    _iso(w.purchased_on),
                    _iso(w.expires_on),
                    w.plan.value,
                    now,
                    names_text(w.product_names),
                )
                for w in records
                if isinstance(w, Warranty)
            ]
        else:
            sql = (
                "INSERT INTO repairs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_number)"
                " DO UPDATE SET serial_number = excluded.serial_number, phone = excluded.phone,"
                " product = excluded.product, status = excluded.status,"
                " updated_on = excluded.updated_on, eta = excluded.eta,"
                " imported_at = excluded.imported_at, product_names = excluded.product_names"
            )
            rows = [
                (
                    r.ticket_number,
                    r.serial_number,
                    r.phone,
                    r.product,
                    r.status.value,
                    _iso(r.updated_on),
                    _iso(r.eta),
                    now,
                    names_text(r.product_names),
                )
                for r in records
                if isinstance(r, Repair)
            ]
        if len(rows) != len(records):
            raise TypeError("one upsert takes records of a single kind")

        def write(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return len(rows)

        return await self.db.run_in_thread(write)
