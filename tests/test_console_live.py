"""Live console updates: one poll shared by every viewer, sent only when the state changed,
and streams that end at once when the app shuts down."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.console.live import EventStreams, LiveFeed


class Board:
    """A state that changes when the test says so, counting how often it was read."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"queue": []}
        self.reads = 0

    async def load(self) -> dict[str, Any]:
        self.reads += 1
        return json.loads(json.dumps(self.state))


def live_app(board: Board) -> web.Application:
    app = web.Application()
    feed = LiveFeed(board.load, every=0.05)
    streams = EventStreams()

    async def events(request: web.Request) -> web.StreamResponse:
        return await streams.serve(request, feed, {"Cache-Control": "no-store"})

    async def stop(_: web.Application) -> None:
        await feed.close()

    app.router.add_get("/events", events)
    app.on_shutdown.append(streams.shutdown)
    app.on_cleanup.append(stop)
    return app


async def next_event(response: Any) -> tuple[str, dict[str, Any]]:
    """The next `event:`/`data:` pair, skipping comments and the retry hint."""
    name = ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            return name, json.loads(line.removeprefix("data: "))


async def test_viewers_get_the_state_then_only_changes(aiohttp_client: Callable) -> None:
    board = Board()
    client: TestClient = await aiohttp_client(live_app(board))
    first = await client.get("/events")
    second = await client.get("/events")
    assert first.headers["Content-Type"].startswith("text/event-stream")
    name, data = await next_event(first)
    assert (name, data["queue"]) == ("snapshot", [])
    assert abs(data["server_time"] - time.time()) < 5
    assert (await next_event(second))[1]["queue"] == []
    reads = board.reads
    await asyncio.sleep(0.3)
    assert board.reads - reads <= 8, "two viewers must share one poll (about one read per 0.05 s)"
    board.state = {"queue": [{"id": "q1", "context": {"ticket_number": "88123"}}]}
    for response in (first, second):
        _, data = await next_event(response)
        assert data["queue"] == [{"id": "q1", "context": {"ticket_number": "88123"}}]
    first.close()
    second.close()


async def test_shutdown_ends_open_streams_at_once() -> None:
    board = Board()
    server = TestServer(live_app(board), host="127.0.0.1")
    await server.start_server()
    client = TestClient(server)
    try:
        response = await client.get("/events")
        await next_event(response)
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 3, "an open console stream held up shutdown"
        rest = await asyncio.wait_for(response.content.read(), 5)
        assert rest.strip() == b"", "the stream went on after shutdown"
    finally:
        await client.close()
