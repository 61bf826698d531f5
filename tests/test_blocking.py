"""The blocking test: whatever a supervisor starts, callers keep being answered (issue 24).

Every caller's webhook runs on the same event loop as the console, so one request that
parses, draws, hashes or counts on the loop makes every call wait behind it (Twilio gives a
webhook 15 s, then plays its "application error"). Here a steady stream of signed calls runs
while every operation a supervisor or an admin can start is run once with the largest input
it accepts (the console's JSON and forms over real HTTP, and the `ivr` commands that write
the same database as real processes), and the loop's longest stall is measured as aiohttp's
suite does with its blocking detector: per callback, in CPU time of the loop's thread
(garbage collection left out, `tests/loop_guard.py`), which a busy machine does not inflate.
No callback may take 100 ms: a caller's webhook never waits longer than that for the loop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.console.flow_editor import MAX_DRAFT_TEXT, MAX_TEXT
from ivr.console.insights import MAX_DAYS
from ivr.console.prompt_audio import MAX_SPOKEN
from ivr.session import CallSession, CallStatus, TranscriptEntry
from ivr.store.accounts import Role
from ivr.testing.caller import VERIFIED_PHONE, Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests import loop_guard
from tests.console import PASSWORD, add_account, console_client, sign_in
from tests.test_console_stalls import big_prompts

pytestmark = pytest.mark.process  # the `ivr` commands beside the server are real processes

MAX_STALL = 0.1
"""Seconds of CPU one loop callback may take while callers wait."""
FLOW = (ROOT / "flows" / "support.yaml").read_text()
EN = (ROOT / "prompts" / "en.yaml").read_text()
GUIDES = sum(len(path.read_text()) for path in (ROOT / "guides").glob("*.yaml"))
"""The shipped guides' text: a draft that sends no guides keeps these, and they count too."""
FREQUENT = "+15550100999"
"""A caller with years of calls on file: the largest privacy export and erasure."""
FREQUENT_CALLS = 3_000
IMPORT_ROWS = 20_000
"""Orders in the file `ivr import` loads meanwhile (a year of a small shop's orders)."""


def largest_draft() -> dict[str, object]:
    """The shipped flow with three prompt files as big as one request may carry (less a margin)."""
    padding = (MAX_DRAFT_TEXT - len(FLOW) - GUIDES) // 3 - len(EN) - 2_000
    big = EN + big_prompts(padding).removeprefix("prompts:\n").replace("  extra_", "  zz_extra_")
    return {"flow": FLOW, "prompts": {"en": big, "de": big, "sv": big}}


def big_orders(path: Path) -> Path:
    lines = [
        "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
    ]
    dates = "2026-11-01,2026-11-02,2026-11-06"
    lines += [
        f"{100_000 + n},+1555{n:07d},Customer {n},10001,shipped,UPS,1Z{n:08d},{dates}"
        for n in range(IMPORT_ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def frequent_caller(app: web.Application) -> None:
    """`FREQUENT_CALLS` ended calls from `FREQUENT`, each with a transcript."""
    sessions = app[STORES].sessions
    for n in range(FREQUENT_CALLS):
        session = CallSession(f"CA{n:032x}", FREQUENT, "+15550009999", "support", "main_menu", 1.7e9 + n)
        session.transcript = [TranscriptEntry(1.0, "bot", "Thanks for calling Acme. " * 10)] * 6
        session.status, session.ended_at, session.outcome = CallStatus.COMPLETED, 1.7e9 + n + 60, "resolved"
        assert await sessions.create(session)


class CallStream:
    """Signed calls one after another (dial, ask for the order's status, hang up) until stopped;
    each webhook's wall time is kept."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.calls = 0
        self.slowest = 0.0
        self._stop = asyncio.Event()
        self._call_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CallStream:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _timed(self, step: Awaitable[object]) -> None:
        start = time.perf_counter()
        await step
        self.slowest = max(self.slowest, time.perf_counter() - start)

    async def _run(self) -> None:
        while not self._stop.is_set():
            caller = Caller(self.client, call_sid="CA" + secrets.token_hex(16))
            await self._timed(caller.dial())
            assert caller.last is not None and "order 4 5 1 2" in caller.last.text.lower(), caller.last
            await self._timed(caller.press("1"))
            assert caller.last is not None and "has shipped" in caller.last.text, caller.last
            await self._timed(caller.hang_up())
            self.calls += 1
            self._call_done.set()

    async def another_call(self) -> None:
        """Wait until one more whole call has been answered."""
        self._call_done.clear()
        await asyncio.wait_for(self._call_done.wait(), 120)


async def ivr(tmp_path: Path, *args: str) -> str:
    """An `ivr` command on the line's own database, as an operator runs it beside the server."""
    env = {
        **os.environ,
        "TWILIO_AUTH_TOKEN": "x",
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_no_supervisor_operation_at_its_largest_stalls_the_calls(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "ada", Role.ADMIN)
    await frequent_caller(client.app)
    csrf = await sign_in(client, "ada")
    json_headers = {"X-CSRF-Token": csrf}
    draft = largest_draft()
    base = "/console/flows/support"
    today = TODAY.isoformat()
    widest = f"since={TODAY.replace(year=TODAY.year - 2).isoformat()}&until={today}"

    done: dict[str, int] = {}
    """Each request's status: the largest inputs are taken and worked on, not refused at once."""

    async def post(path: str, body: dict[str, object]) -> None:
        response = await client.post(path, json=body, headers=json_headers)
        text = await response.text()
        done[path] = response.status
        assert response.status < 500, f"{path}: {response.status} {text[:300]}"

    async def form(path: str, fields: dict[str, str]) -> None:
        response = await client.post(
            path, data={**fields, "csrf": csrf}, headers=json_headers, allow_redirects=False
        )
        done[path] = response.status
        assert response.status < 500, f"{path}: {response.status} {(await response.text())[:300]}"

    async def get(path: str) -> None:
        response = await client.get(path)
        body = await response.read()
        assert response.status < 500, f"{path}: {response.status} {body[:300]!r}"

    async def draft_op(path: str, extra: dict[str, object]) -> None:
        """A save or publish at the draft's revision (a conflict answers with the current one)."""
        response = await client.post(f"{base}/save", json={"revision": 10**9, **draft}, headers=json_headers)
        assert response.status == 409, await response.text()
        await post(path, {**draft, **extra, "revision": (await response.json())["revision"]})

    async def test_phone() -> None:
        response = await client.post(
            f"{base}/test/call", json={**draft, "caller": VERIFIED_PHONE}, headers=json_headers
        )
        answer = await response.json()
        assert response.status == 200, answer
        await post(f"{base}/test/input", {**draft, "token": answer.get("token", ""), "digits": "1"})

    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "validate": lambda: post(f"{base}/validate", draft),
        "diagram": lambda: post(f"{base}/diagram", draft),
        "diff": lambda: post(f"{base}/diff", draft),
        "save": lambda: draft_op(f"{base}/save", {}),
        "edit a prompt": lambda: post(
            f"{base}/prompt", {"text": big_prompts(MAX_TEXT - 2_000), "id": "extra_5", "value": "Changed."}
        ),
        "listen": lambda: post(f"{base}/listen", {"text": "Thanks for calling. " * (MAX_SPOKEN // 20 - 1)}),
        "test phone": test_phone,
        "publish": lambda: draft_op(f"{base}/publish", {"note": "n" * 500}),
        "history": lambda: get(f"{base}/history"),
        "rollback": lambda: post(f"{base}/rollback", {"version": 1}),
        "flows page": lambda: get(base),
        "insights": lambda: get(f"/console/insights?{widest}"),
        "insights CSVs": lambda: asyncio.gather(
            *(get(f"/console/insights/export/{table}.csv?{widest}") for table in ("calls", "misheard"))
        ),
        "campaigns": lambda: get("/console/campaigns/status.json"),
        "returns": lambda: get("/console/returns.json"),
        "privacy export": lambda: form("/console/privacy/export", {"number": FREQUENT}),
        "privacy erase": lambda: form("/console/privacy/erase", {"number": FREQUENT, "confirm": FREQUENT}),
        "add an account": lambda: form(
            "/console/accounts", {"username": "maria", "password": PASSWORD, "role": "supervisor"}
        ),
        "ivr import": lambda: ivr(tmp_path, "import", "orders", str(big_orders(tmp_path / "orders.csv"))),
        "ivr stats": lambda: ivr(tmp_path, "stats", "--since", f"{TODAY.year - 1}-01-01", "--until", today),
        "ivr flows history": lambda: ivr(tmp_path, "flows", "history"),
    }
    assert MAX_DAYS < 2 * 366  # the widest range asked is wider than the page allows: it is capped
    stalls: dict[str, tuple[float, str]] = {}
    async with CallStream(client) as stream:
        for name, operation in operations.items():
            loop_guard.WORST.reset()
            await operation()
            await stream.another_call()  # and the calls go on
            stalls[name] = (loop_guard.WORST.seconds, loop_guard.WORST.what)
    print(f"{stream.calls} calls; slowest webhook {stream.slowest:.3f} s; longest stall per operation:")
    for name, (seconds, what) in sorted(stalls.items(), key=lambda item: -item[1][0]):
        print(f"  {seconds * 1000:7.1f} ms  {name}  ({what})")
    assert all(status in (200, 303) for status in done.values()), done
    stalled = {
        name: f"{seconds:.3f} s in {what}" for name, (seconds, what) in stalls.items() if seconds > MAX_STALL
    }
    assert not stalled, f"callers waited behind: {stalled}"
