"""A call that ends while PostgreSQL is unreachable is archived once it is back (Redis mode).

The database link runs through a TCP proxy the test controls, so "PostgreSQL is down"
is a real cut connection the driver sees, not a mock. Nothing sleeps for a guessed time:
the test waits for the record to appear, with a generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, make_settings
from ivr.testing.services import postgres_schema, require
from ivr.web.app import create_app
from ivr.web.keys import STORES

REDIS_URL = "redis://127.0.0.1:6379/13"
"""A Redis database of its own: the outbox keys live under the default prefix."""
DEADLINE = 30.0
"""Seconds to wait for the retry; it comes after about a second."""


class LinkProxy:
    """Forwards TCP connections to a server until cut; while cut, drops every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut_off = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Close every open connection; new ones are closed as soon as they arrive."""
        self.cut_off = True
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            client_writer.close()
            return
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
        self._writers.discard(writer)


@pytest.fixture
async def outbox_keys() -> AsyncIterator[Redis]:
    require("Redis", "127.0.0.1", 6379)
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_a_call_ending_while_postgres_is_cut_off_is_archived_when_it_returns(
    aiohttp_client: Callable, tmp_path: Path, outbox_keys: Redis
) -> None:
    proxy = LinkProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        async with postgres_schema() as pg:  # a direct connection, to look at what arrives
            settings = make_settings(
                tmp_path,
                IVR_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={pg.schema}",
                IVR_SESSION_URL=REDIS_URL,
            )
            app = create_app(settings, today=lambda: TODAY)
            client = await aiohttp_client(app)
            caller = Caller(client)
            await caller.dial_to_menu()
            await caller.press("4")

            proxy.cut()
            await caller.hang_up()  # the archive fails: PostgreSQL is unreachable
            assert await pg.pool.fetchval("SELECT count(*) FROM calls") == 0
            assert await app[STORES].calls.pending() == 1  # type: ignore[attr-defined]

            proxy.restore()
            deadline = time.monotonic() + DEADLINE
            row = None
            while row is None and time.monotonic() < deadline:
                row = await pg.pool.fetchrow(
                    "SELECT status, outcome FROM calls WHERE call_sid = $1", caller.call_sid
                )
                if row is None:
                    await asyncio.sleep(0.1)
            assert row is not None, f"call {caller.call_sid} was not archived within {DEADLINE:g} s"
            assert (row["status"], row["outcome"]) == ("completed", "abandoned")
            assert await app[STORES].calls.pending() == 0  # type: ignore[attr-defined]
            await client.close()
    finally:
        await proxy.stop()
