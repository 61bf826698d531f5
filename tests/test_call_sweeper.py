"""Calls whose final status callback never arrived are filed as ended (issue 24, defect 2).

Twilio does not retry a status callback. When it fails (the database down at call end,
Redis frozen), the record stayed `in-progress` for ever, never counted by the insights and
never purged. The line's sweeper files a call that nothing has written for IVR_SWEEP_AFTER
seconds as ended, saying why; here the callback is simply never sent, which is what its
failure leaves behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from ivr.importer import ImportKind, parse_file
from ivr.session import CallSession
from ivr.store.backends import build_stores
from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, TODAY, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES

SWEEP_AFTER = 2
"""Seconds unwritten after which the test's line files a call as ended."""


async def filed(app: web.Application, call_sid: str) -> CallSession:
    """The call's record once it is no longer in progress (waits up to a minute for the sweep)."""
    calls = app[STORES].calls
    deadline = time.monotonic() + 60
    while True:
        record = await calls.get_call(call_sid)
        if record is not None and record.status != "in-progress":
            return record
        assert time.monotonic() < deadline, f"call {call_sid} is still {record and record.status}"
        await asyncio.sleep(0.2)


async def test_a_call_without_its_final_status_is_filed_as_ended_with_the_reason(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url, IVR_SWEEP_AFTER=str(SWEEP_AFTER))
    stores = build_stores(settings.database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await stores.close()
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial_to_menu()
    last_heard = time.time()
    # The caller hangs up; the status callback is lost.
    record = await filed(client.app, caller.call_sid)
    assert (record.status, record.outcome) == ("completed", "abandoned")
    assert record.transcript[-1].who == "flow" and "no final status" in record.transcript[-1].text
    assert record.ended_at is not None and record.ended_at <= last_heard + 0.5, "ended when last heard of"
    again = await caller.dial()
    assert again.hung_up and "Goodbye" in again.text
