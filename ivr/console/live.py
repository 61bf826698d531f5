"""Live console pages over server-sent events: one database poll per process, many viewers.

The desk's state lives in the database, so an agent signed in on one instance sees callers
queued through another. `LiveFeed` polls a loader about once a second while anyone is
watching, keeps the last answer, and bumps a version when it changed; every open event
stream waits on that version and sends only new states, plus a comment line now and then
so proxies and browsers keep the connection open. `EventStreams.shutdown` ends every open
stream at once, so a console left open never holds up a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

POLL_EVERY = 1.0
HEARTBEAT_EVERY = 15.0
"""Seconds without news before a comment line keeps the stream alive (proxies cut idle ones)."""

Loader = Callable[[], Awaitable[Mapping[str, Any]]]


class LiveFeed:
    """The latest state from `load`, polled while at least one viewer waits for it."""

    def __init__(self, load: Loader, *, every: float = POLL_EVERY) -> None:
        self._load = load
        self._every = every
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._viewers = 0
        self.version = 0
        self.state: Mapping[str, Any] | None = None
        self.failing = False
        """The last poll failed (the database did not answer); viewers keep the last state."""

    async def wait_newer(self, version: int) -> int:
        """Wait until the state is newer than `version`; the current version (cancel to stop)."""
        self._viewers += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="console-live-feed")
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self.version > version)
        finally:
            self._viewers -= 1
        return self.version

    async def _poll(self) -> None:
        idle_since: float | None = None
        while True:
            try:
                state = await self._load()
            except Exception:
                # A database hiccup must not end every console's stream; say so once and retry.
                if not self.failing:
                    log.exception("console_feed_failed: the desk's state could not be read")
                self.failing = True
            else:
                self.failing = False
                if state != self.state:
                    self.state = state
                    self.version += 1
                    async with self._changed:
                        self._changed.notify_all()
            if self._viewers == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > HEARTBEAT_EVERY:
                    return  # nobody is watching: stop polling until someone is
            else:
                idle_since = None
            await asyncio.sleep(self._every)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class EventStreams:
    """Open event-stream responses, and the switch that ends them all on shutdown."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()

    async def serve(
        self,
        request: web.Request,
        feed: LiveFeed,
        headers: Mapping[str, str],
    ) -> web.StreamResponse:
        """Stream the feed's state as `snapshot` events until the client or the app goes."""
        response = web.StreamResponse(
            headers={
                **headers,
                "Content-Type": "text/event-stream; charset=utf-8",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        sent = 0
        try:
            await response.write(b"retry: 2000\n\n")
            while not self.closing.is_set() and not _gone(request):
                closing = asyncio.ensure_future(self.closing.wait())
                newer = asyncio.ensure_future(feed.wait_newer(sent))
                await asyncio.wait(
                    {closing, newer}, timeout=HEARTBEAT_EVERY, return_when=asyncio.FIRST_COMPLETED
                )
                closing.cancel()
                if not newer.done():
                    newer.cancel()
                    if self.closing.is_set():
                        break
                    await response.write(b": still here\n\n")  # no news: keep proxies from cutting us
                    continue
                version = newer.result()
                if version > sent and feed.state is not None:
                    sent = version
                    data = json.dumps({**feed.state, "server_time": time.time()})
                    await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
        except ConnectionError:
            pass  # the browser went away (a reload, a closed tab); it reconnects if it wants
        return response

    async def shutdown(self, _: web.Application) -> None:
        """`on_shutdown`: every stream sees `closing` and returns; browsers reconnect elsewhere."""
        self.closing.set()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
