"""Pick the store implementations from URLs: the one place that knows the backends.

- `IVR_DATABASE_URL`: `sqlite:///file.db` (default, embedded) or `postgresql://…` (an
  optional `?schema=name` keeps the tables in that schema)
  holds business data and call records, and live sessions unless…
- `IVR_SESSION_URL`: `redis://…` holds live call state, so any instance can serve any
  webhook of any call; records are archived to the database when a call ends, through
  an outbox in Redis that retries until the database takes them (`ivr.store.outbox`).

Drivers are imported only for the backend in use.

`Stores.ping()` is the readiness check (`GET /readyz`). A Redis that does not answer at
start-up is logged (`redis_unavailable`) rather than fatal, so the process still starts and
reports itself unready; each ping tries to connect again, and webhooks answer with the
fallback (apology and hand-off) until it does. A Redis that does not persist (neither the
append-only file nor snapshots) is warned of at start-up (`redis_not_persistent`): the
outbox's records would not survive its restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ivr.config import ConfigError
from ivr.store.base import CallLog, Repository, SessionStore
from ivr.store.sql import PostgresSql, Sql, SQLiteSql
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository, SQLiteSessionStore, sqlite_path

log = logging.getLogger(__name__)
PING_TIMEOUT = 1.0
"""Seconds each backend has to answer a readiness ping."""


class StoresUnavailable(Exception):
    """A readiness ping failed; `down` maps each silent backend ("database", "redis") to why."""

    def __init__(self, down: dict[str, str]) -> None:
        super().__init__(", ".join(f"{name}: {reason}" for name, reason in down.items()))
        self.down = down


@dataclass
class Stores:
    sessions: SessionStore
    calls: CallLog
    repository: Repository
    sql: Sql
    """The database for the console's stores (accounts, flow versions, agents, queue)."""
    separate_sessions: bool
    """Live sessions are not in the database: finished calls must be archived."""
    _open: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _pings: dict[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)

    async def open(self) -> None:
        for step in self._open:
            await step()

    async def ping(self) -> None:
        """Ask every backend a trivial question; raise `StoresUnavailable` naming the silent ones."""

        async def check(ping: Callable[[], Awaitable[object]]) -> str | None:
            try:
                async with asyncio.timeout(PING_TIMEOUT):
                    await ping()
            except TimeoutError:
                return f"no answer within {PING_TIMEOUT:g} s"
            except Exception as exc:  # any driver error means "not ready"; the reason is reported
                return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return None

        names = list(self._pings)
        results = await asyncio.gather(*(check(self._pings[name]) for name in names))
        down = {name: reason for name, reason in zip(names, results, strict=True) if reason is not None}
        if down:
            raise StoresUnavailable(down)

    async def close(self) -> None:
        for step in reversed(self._close):
            await step()


def postgres_target(database_url: str) -> tuple[str, str]:
    """(connection URL, schema) from `postgresql://…[?schema=name]`; asyncpg must not see `schema`."""
    base, _, schema = database_url.partition("?schema=")
    return base, schema or "public"


def build_stores(database_url: str, session_url: str = "") -> Stores:
    """Construct (not yet connect) the stores for these URLs; `open()` connects."""
    if database_url.startswith("sqlite:"):
        db = SQLiteDatabase(sqlite_path(database_url))
        store = SQLiteSessionStore(db)
        stores = Stores(store, store, SQLiteRepository(db), SQLiteSql(db), False, [db.open], [db.close])
        stores._pings["database"] = lambda: db.run(lambda conn: conn.execute("SELECT 1").fetchone())
    elif database_url.startswith(("postgresql://", "postgres://")):
        from ivr.store.postgres import PostgresDatabase, PostgresRepository, PostgresSessionStore

        base, schema = postgres_target(database_url)
        pg = PostgresDatabase(base, schema=schema)
        pg_store = PostgresSessionStore(pg)
        stores = Stores(
            pg_store, pg_store, PostgresRepository(pg), PostgresSql(pg), False, [pg.open], [pg.close]
        )
        stores._pings["database"] = lambda: pg.pool.fetchval("SELECT 1")
    else:
        raise ConfigError(
            f"IVR_DATABASE_URL '{database_url}' is not supported: use sqlite:///path/to/file.db "
            "or postgresql://user@host:5432/database"
        )
    if session_url:
        if not session_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"IVR_SESSION_URL '{session_url}' is not supported: use redis://host:6379/0")
        from ivr.store.outbox import ArchiveOutbox
        from ivr.store.redis import RedisSessionStore, RedisUnavailable

        redis_store = RedisSessionStore(session_url)
        outbox = ArchiveOutbox(redis_store, stores.calls)

        async def open_redis() -> None:
            try:
                await redis_store.open()
            except RedisUnavailable as exc:
                log.error("redis_unavailable: %s; not ready until it answers", exc)
                return
            if problem := await redis_store.persistence():
                log.warning(
                    "redis_not_persistent: %s: ended calls waiting in the archive outbox are lost if"
                    " Redis restarts; set appendonly yes (docs/operations.md)",
                    problem,
                )

        async def ping_redis() -> None:
            if redis_store._client is None:
                await redis_store.open()  # raises RedisUnavailable while it stays down
            else:
                await redis_store._client.ping()

        stores.sessions = redis_store
        stores.calls = outbox
        stores.separate_sessions = True
        stores._open += [open_redis, outbox.start]
        stores._close += [redis_store.close, outbox.stop]  # closed in reverse: the drainer first
        stores._pings["redis"] = ping_redis
    return stores
