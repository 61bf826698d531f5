"""Pick the store implementations from URLs: the one place that knows the backends.

- `IVR_DATABASE_URL`: `sqlite:///file.db` (default, embedded) or `postgresql://…` (an
  optional `?schema=name` keeps the tables in that schema)
  holds business data and call records, and live sessions unless…
- `IVR_SESSION_URL`: `redis://…` holds live call state, so any instance can serve any
  webhook of any call; records are archived to the database when a call ends.

Drivers are imported only for the backend in use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ivr.store.base import CallLog, Repository, SessionStore
from ivr.store.sqlite import ConfigError, SQLiteDatabase, SQLiteRepository, SQLiteSessionStore, sqlite_path


@dataclass
class Stores:
    sessions: SessionStore
    calls: CallLog
    repository: Repository
    separate_sessions: bool
    """Live sessions are not in the database: finished calls must be archived."""
    _open: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def open(self) -> None:
        for step in self._open:
            await step()

    async def close(self) -> None:
        for step in reversed(self._close):
            await step()


def build_stores(database_url: str, session_url: str = "") -> Stores:
    """Construct (not yet connect) the stores for these URLs; `open()` connects."""
    if database_url.startswith("sqlite:"):
        db = SQLiteDatabase(sqlite_path(database_url))
        store = SQLiteSessionStore(db)
        stores = Stores(store, store, SQLiteRepository(db), False, [db.open], [db.close])
    elif database_url.startswith(("postgresql://", "postgres://")):
        from ivr.store.postgres import PostgresDatabase, PostgresRepository, PostgresSessionStore

        base, _, query = database_url.partition("?schema=")
        pg = PostgresDatabase(base, schema=query or "public")
        pg_store = PostgresSessionStore(pg)
        stores = Stores(pg_store, pg_store, PostgresRepository(pg), False, [pg.open], [pg.close])
    else:
        raise ConfigError(
            f"IVR_DATABASE_URL '{database_url}' is not supported: use sqlite:///path/to/file.db "
            "or postgresql://user@host:5432/database"
        )
    if session_url:
        if not session_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"IVR_SESSION_URL '{session_url}' is not supported: use redis://host:6379/0")
        from ivr.store.redis import RedisSessionStore

        redis_store = RedisSessionStore(session_url)
        stores.sessions = redis_store
        stores.separate_sessions = True
        stores._open.append(redis_store.open)
        stores._close.append(redis_store.close)
    return stores
