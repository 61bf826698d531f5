"""A real line on loopback, in a thread of its own, for tests that drive it synchronously;
and what the fuzz tests share: hostile values, and the normal call that must still work.

Hypothesis runs plain functions, so the fuzz tests talk to the server with blocking HTTP
and websocket clients while the server's event loop runs in this thread, exactly as it
does under `ivr serve`. The suites are three files (webhooks, the console and phone API,
media streams) so that the test processes share them out.
"""

from __future__ import annotations

import asyncio
import http.client
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from hypothesis import strategies as st

from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, sign


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


CALLS = ["CA" + secrets.token_hex(16) for _ in range(4)]
"""A handful of call SIDs the fuzzed requests and messages share, so turns land on live calls."""
HOSTILE = [
    "",
    "1",
    "0",
    "9",
    "#",
    "*",
    "4512",
    "4512#",
    "10001",
    "١٠٠٠١",
    "４５１２",
    "٤٥١٢",
    "\x1b[31mred\x07",
    "a\x00b",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "<Say>hi</Say>",
    "]]><Hangup/>",
    "&amp;&lt;&#0;",
    "completed",
    "in-progress",
    "busy",
    "nan",
    "-1e309",
    "hangup",
    "where is my order",
    "agent",
]
"""Values no webhook or form should choke on: control characters, other scripts' digits,
markup, numbers past a float's range, and Twilio's own words in the wrong place."""


def hostile_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        st.builds(lambda ch, n: ch * n, st.sampled_from(["9", "a ", "é", "\x1b"]), st.integers(200, 100_000)),
    )


def a_normal_call(connection: http.client.HTTPConnection) -> None:
    """A caller on file asks for their order's status and hears it."""
    call_sid = "CA" + secrets.token_hex(16)
    base = {"CallSid": call_sid, "From": VERIFIED_PHONE, "To": "+15550009999", "CallStatus": "in-progress"}

    def post(target: str, extra: dict[str, str]) -> ET.Element:
        params = {**base, **extra}
        url = PUBLIC_URL + target
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, params),
        }
        connection.request("POST", target, body=urlencode(params).encode(), headers=headers)
        response = connection.getresponse()
        root = ET.fromstring(response.read())
        assert response.status == 200
        return root

    def action(root: ET.Element) -> str:
        gather = root.find("Gather")
        assert gather is not None
        parts = urlsplit(gather.get("action", ""))
        return f"{parts.path}?{parts.query}"

    greeting = post("/voice", {})  # "Are you calling about order 4512? Press 1 or say yes."
    answer = post(action(greeting), {"Digits": "1"})
    heard = " ".join((el.text or "") for el in answer.iter("Say"))
    assert "Order 4 5 1 2 has shipped with UPS" in heard
