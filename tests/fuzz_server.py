"""A real line on loopback, in a thread of its own, for tests that drive it synchronously.

Hypothesis runs plain functions, so the fuzz tests talk to the server with blocking HTTP
and websocket clients while the server's event loop runs in this thread, exactly as it
does under `ivr serve`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from aiohttp import web


class ServerThread:
    """Start with `with ServerThread(make_app) as server:`; `server.port` is where it listens."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzz-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *_: Any) -> None:
        self.run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    @property
    def app(self) -> web.Application:
        """The running app (to reach its stores from the test's thread, through `run`)."""
        assert self._runner is not None, "not started"
        return self._runner.app

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def run(self, coroutine: Any, timeout: float = 120) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
