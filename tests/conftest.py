"""Shared fixtures: a real server on loopback with the demo data loaded."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.sandbox.account import TwilioAccount, running_account
from ivr.store import accounts
from ivr.store.sql import Sql
from ivr.testing.caller import TOKEN, Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.testing.services import PG_URL, open_sql, require
from ivr.web.app import create_app
from tests import loop_guard
from tests.browser import browser_page, chromium

__all__ = ["browser_page", "chromium"]  # fixtures for every test module


LAYERS = ("unit", "inprocess", "app", "process", "browser")
"""The test layers, from the fastest (scripts/test -m unit) to the slowest."""
_INPROCESS_FIXTURES = {"tmp_path", "tmp_path_factory", "sql", "database_url", "twilio"}


def pytest_configure(config: pytest.Config) -> None:
    loop_guard.install()
    # Console tests sign in a few times each; the production cost (n=2**14, ~75 ms a hash)
    # protects stored passwords and proves nothing more in a test than n=2**10 (~5 ms).
    # Hashes carry their parameters, so both verify the same way (test_console_auth).
    accounts._SCRYPT["n"] = 2**10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its layer: a module may say `process` (it starts real processes);
    otherwise what it uses decides (chromium, the whole app, stores and files, or nothing)."""
    for item in items:
        marked = [name for name in LAYERS if item.get_closest_marker(name)]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked with two layers: {marked}")
        if marked:
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        if "browser_page" in fixtures:
            layer = "browser"
        elif "aiohttp_client" in fixtures:
            layer = "app"
        elif fixtures & _INPROCESS_FIXTURES:
            layer = "inprocess"
        else:
            layer = "unit"
        item.add_marker(layer)


@pytest.fixture(autouse=True)
def _loop_not_blocked() -> Iterator[None]:
    """Fails a test in which one event-loop callback spent more than `loop_guard.LIMIT` of CPU."""
    loop_guard.WORST.reset()
    yield
    worst = loop_guard.WORST
    assert worst.seconds <= loop_guard.LIMIT, (
        f"the event loop was blocked for {worst.seconds:.2f} s of CPU by {worst.what}: "
        "move that work to a thread (asyncio.to_thread) or a process"
    )


def undo_later_migrations(conn: sqlite3.Connection) -> None:
    """A SQLite database without the columns migrations 16, 17 and 19 add, for tests that rewind
    its version and run later migrations again (18, 20 and 25 create only if not there yet)."""
    for table in ("warranties", "repairs"):  # 16: product names per language
        conn.execute(f"ALTER TABLE {table} DROP COLUMN product_names")
    for column in ("resume_status", "missed_at"):  # 17: what an agent goes back to
        conn.execute(f"ALTER TABLE agent_states DROP COLUMN {column}")
    for column in ("failed_sign_ins", "last_failed_at", "last_failed_from"):  # 19: sign-in notices
        conn.execute(f"ALTER TABLE accounts DROP COLUMN {column}")


@pytest.fixture(params=["sqlite", "postgres"])
async def sql(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sql]:
    """The same store contract on both databases (see `ivr.testing.services.open_sql`)."""
    async with open_sql(request.param, tmp_path) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """IVR_DATABASE_URL of an empty database that several app instances can share."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    from ivr.store.postgres import PostgresDatabase, upgrade

    schema = f"t_{secrets.token_hex(6)}"
    await upgrade(PG_URL, schema=schema)
    yield f"{PG_URL}?schema={schema}"
    await PostgresDatabase(PG_URL, schema=schema).drop_schema()


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioAccount]:
    """The sandbox's Twilio account (`ivr.sandbox.account`), which the real `twilio` client talks to."""
    async with running_account(TOKEN) as account:
        yield account


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(aiohttp_client: Callable, settings: Settings) -> TestClient:
    await load_demo_data(settings)
    return await aiohttp_client(create_app(settings, today=lambda: TODAY))


@pytest.fixture
def caller(client: TestClient) -> Caller:
    return Caller(client)
