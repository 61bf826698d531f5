"""A whole line on the sandbox telephone network (IVR_TELEPHONY=sandbox), and a phone to use it.

`SandboxPhone` uses the phone API over real HTTP exactly as `ivr phone` and the dev phone page
do; it waits for the events themselves (long polling), never for time to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from ivr.sandbox.network import Network
from ivr.sandbox.phones import NETWORK
from ivr.testing.caller import PUBLIC_URL
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app


@asynccontextmanager
async def sandbox_line(
    tmp_path: Path, *, now: Callable[[], datetime] | None = None, **env: str
) -> AsyncIterator[TestServer]:
    """The line with the sandbox on a real loopback server; the sandbox's webhooks reach it.
    `now`: the clock business hours and campaigns read (default the real one)."""
    settings = make_settings(tmp_path, IVR_TELEPHONY="sandbox", IVR_AGENT_RING_SECONDS="60", **env)
    await load_demo_data(settings)
    clock = {"now": now} if now is not None else {}
    server = TestServer(create_app(settings, today=lambda: TODAY, **clock), host="127.0.0.1")
    await server.start_server()
    network(server).account.deliver_to(PUBLIC_URL, str(server.make_url("")))
    try:
        yield server
    finally:
        await server.close()


def network(server: TestServer) -> Network:
    return server.app[NETWORK]


@dataclass
class SandboxPhone:
    """A sandbox number's phone over the phone API."""

    session: ClientSession
    base: str
    """The line's server, e.g. ``http://127.0.0.1:41234``."""
    number: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    after: int = 0

    def _url(self, action: str) -> str:
        return f"{self.base}/sandbox/phones/{self.number}/{action}"

    async def act(self, action: str, **body: str) -> dict[str, Any]:
        async with self.session.post(self._url(action), json=body) as reply:
            answer: dict[str, Any] = await reply.json()
            assert reply.status in (200, 201), answer
            return answer

    async def call_line(self) -> str:
        return str((await self.act("call"))["call"])

    async def ask_for_an_agent_about_repair(self, until: str) -> str:
        """Call the line as the caller on file, pass the greeting's order offer, ask about repair
        3141 and press 0; returns the CallSid once the phone sees an event of kind `until`
        (`queued`, or `recording` when the line is closed)."""
        call = await self.call_line()
        await self.next_event("listening")
        await self.act("keys", call=call, keys="3")  # not about the order the greeting offers
        await self.next_event("say", "Tell me what you need")
        await self.next_event("listening")
        await self.act("keys", call=call, keys="2")
        await self.act("keys", call=call, keys="3141#")
        await self.next_event("say", "waiting for parts")
        await self.act("keys", call=call, keys="0")
        await self.next_event(until)
        return call

    async def next_event(self, kind: str, containing: str = "", seconds: float = 60) -> dict[str, Any]:
        """The next event of `kind` (whose text contains `containing`), polling the phone API."""
        async with asyncio.timeout(seconds):
            while True:
                while self.seen:
                    event = self.seen.pop(0)
                    if event["kind"] == kind and containing in event["text"]:
                        return event
                async with self.session.get(self._url("events"), params={"after": str(self.after)}) as reply:
                    events = (await reply.json())["events"]
                if events:
                    self.after = events[-1]["id"]
                    self.seen.extend(events)
