"""Events to the company: written with the record they are about, sent signed, each once.

The company's endpoint is a real HTTP server on loopback that checks every signature with the
receiver example's own code (docs/events.md) and counts events by id. The delivery workers run
on an injected clock and jitter, so a day of retries takes no real time; the stores are the
real ones on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.agents.store.voicemails import SqlVoicemailStore
from ivr.config import ConfigError
from ivr.deliveries import (
    BATCH,
    FIRST_RETRY,
    IDEMPOTENCY_HEADER,
    LEASE,
    MAX_RETRY,
    SIGNATURE_HEADER,
    Deliverer,
    Destinations,
    backoff,
    signature,
)
from ivr.events import EventType, event_id
from ivr.outreach.store import OutreachStore
from ivr.sandbox.account import TwilioAccount
from ivr.store.accounts import Role
from ivr.store.audit import AuditLog
from ivr.store.event_outbox import RETRY_HORIZON, DeliveryState, EventOutbox, record_event
from ivr.store.postgres import PostgresDatabase
from ivr.store.returns import ReturnReason, SqlReturns
from ivr.store.sql import PostgresSql, Sql, SQLiteSql
from ivr.store.sqlite import SQLiteDatabase
from ivr.store.surveys import SqlSurveyRecorder
from ivr.testing.demo_line import ROOT, make_settings
from ivr.web.app import create_app
from ivr.web.keys import DELIVERER, STORES
from tests.console import add_account, console_client, sign_in

SECRET = "s3cret-for-the-tests-0123456789"
T0 = 1_764_000_000.0
"""A moment to sign at (late November 2026)."""


def receiver_example() -> dict[str, Any]:
    """The receiver in docs/events.md, run as the docs print it (its `__main__` part aside)."""
    page = (ROOT / "docs" / "events.md").read_text()
    (code,) = re.findall(r"## A receiver.*?```python\n(.*?)```", page, re.S)
    namespace: dict[str, Any] = {"__name__": "receiver_example"}
    exec(compile(code, "docs/events.md", "exec"), namespace)
    return namespace


class Clock:
    """The delivery workers' time, moved by the tests; it starts at the real time, which the
    console's retry (a person's click) is made at."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """The company's endpoint: `up` takes events (204), `down` answers 503, `silent` never answers."""

    def __init__(self, clock: Clock) -> None:
        self.example = receiver_example()
        self.clock = clock
        self.mode = "up"
        self.taken: Counter[str] = Counter()
        """Events taken, by id (a second arrival of one id would show here as 2)."""
        self.bodies: dict[str, dict[str, Any]] = {}
        self.refused = 0
        self.bad_signatures = 0
        self._runner: web.AppRunner | None = None
        self._never = asyncio.Event()
        self._took = asyncio.Event()
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/events", self._take)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/events"
        return self.url

    async def stop(self) -> None:
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.mode == "down":
            self.refused += 1
            return web.Response(status=503)
        if self.mode == "silent":
            self.refused += 1
            await self._never.wait()
        verify = self.example["verify"]
        if not verify(SECRET.encode(), request.headers.get(SIGNATURE_HEADER, ""), body, now=self.clock()):
            self.bad_signatures += 1
            return web.Response(status=400)
        event = json.loads(body)
        assert request.headers[IDEMPOTENCY_HEADER] == event["id"]
        self.taken[event["id"]] += 1
        self.bodies[event["id"]] = event
        self._took.set()
        return web.Response(status=204)

    async def wait_for(self, count: int) -> None:
        """Until `count` events were taken: the app's own worker may be the one sending them."""
        async with asyncio.timeout(30):
            while sum(self.taken.values()) < count:
                self._took.clear()
                await self._took.wait()


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    clock = Clock()
    company = Endpoint(clock)
    await company.start()
    yield company
    await company.stop()


@contextlib.asynccontextmanager
async def reopened(sql: Sql) -> AsyncIterator[Sql]:
    """The same database through new connections, as a restarted line opens it."""
    if isinstance(sql, SQLiteSql):
        db = SQLiteDatabase(sql.db.path)
        yield SQLiteSql(db)
        await db.close()
        return
    assert isinstance(sql, PostgresSql)
    pg = PostgresDatabase(sql.db.url, schema=sql.db.schema)
    await pg.open()
    yield PostgresSql(pg)
    await pg.close()


@contextlib.asynccontextmanager
async def worker(sql: Sql, url: str, clock: Clock, **kw: Any) -> AsyncIterator[Deliverer]:
    deliverer = Deliverer(
        EventOutbox(sql), Destinations(url, {}, SECRET), clock=clock, rand=lambda: 1.0, **kw
    )
    await deliverer.open()
    yield deliverer
    await deliverer.close()


async def what_the_line_did(sql: Sql, clock: Clock) -> set[str]:
    """A morning's events through the stores the line uses: returns, survey answers, a voicemail,
    an opt-out and a text. Returns their ids."""
    returns = SqlReturns(sql, clock=clock)
    for order in ("5001", "5002", "5003"):
        made = await returns.start(
            order, "", "", "+15550100050", ReturnReason.DAMAGED, "en", date(2026, 11, 23)
        )
        assert made is not None
    surveys = SqlSurveyRecorder(sql, clock=clock)
    await surveys.record("CA1", 5)
    await surveys.record("CA2", 2)
    voicemails = SqlVoicemailStore(sql, clock=clock)
    vm = await voicemails.start("CA3", "+15550100003", "order", {"order_number": "4512"})
    assert await voicemails.recorded(vm, "https://api.twilio.com/rec/RE1", "RE1", 12)
    assert await OutreachStore(sql).opt_out("+15550100004", "call", clock())
    await record_event(sql, EventType.TEXT_SENT, "SM1", {"message_sid": "SM1", "number": "+1555"}, clock())
    return {
        *(event_id(EventType.RETURN_STARTED, rma) for rma in ("7001", "7002", "7003")),
        event_id(EventType.SURVEY_ANSWERED, "CA1"),
        event_id(EventType.SURVEY_ANSWERED, "CA2"),
        event_id(EventType.VOICEMAIL_LEFT, vm),
        event_id(EventType.CONTACT_OPTED_OUT, f"+15550100004@{clock.now}"),
        event_id(EventType.TEXT_SENT, "SM1"),
    }


def test_the_receiver_example_checks_the_signature_and_its_age() -> None:
    verify = receiver_example()["verify"]
    body = '{"id":"evt_1","type":"return.started"}'
    header = signature(SECRET, int(T0), body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(SECRET.encode(), header, body.encode(), now=T0 + 60)
    assert not verify(SECRET.encode(), header, body.replace("7", "8").replace("1", "2").encode(), now=T0)
    assert not verify(b"another secret", header, body.encode(), now=T0)
    assert not verify(SECRET.encode(), header, body.encode(), now=T0 + 301)  # a replay, too late
    assert not verify(SECRET.encode(), "v1=abc", body.encode(), now=T0)


def test_retries_wait_longer_each_time_with_jitter_up_to_an_hour() -> None:
    assert backoff(1, lambda: 0.0) == FIRST_RETRY / 2 and backoff(1, lambda: 1.0) == FIRST_RETRY
    assert backoff(2, lambda: 1.0) == 2 * FIRST_RETRY and backoff(3, lambda: 1.0) == 4 * FIRST_RETRY
    assert backoff(30, lambda: 1.0) == MAX_RETRY and backoff(30, lambda: 0.0) == MAX_RETRY / 2


def test_events_go_where_the_settings_say_and_never_unsigned(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        IVR_EVENTS_URL="https://crm.example.com/ivr",
        IVR_EVENTS_URL_CALLBACK_REQUESTED="https://helpdesk.example.com/callbacks",
        IVR_EVENTS_SECRET=SECRET,
    )
    routes = Destinations.from_settings(settings)
    assert routes.url_for(EventType.CALLBACK_REQUESTED) == "https://helpdesk.example.com/callbacks"
    assert routes.url_for(EventType.RETURN_STARTED) == "https://crm.example.com/ivr"
    assert SECRET not in repr(settings)
    with pytest.raises(ConfigError, match="IVR_EVENTS_SECRET must be set"):
        make_settings(tmp_path, IVR_EVENTS_URL="https://crm.example.com/ivr")
    with pytest.raises(ConfigError, match="IVR_EVENTS_URL_RETURN_STARTD: the line sends no such kind"):
        make_settings(
            tmp_path, IVR_EVENTS_URL_RETURN_STARTD="https://x.example.com", IVR_EVENTS_SECRET=SECRET
        )
    with pytest.raises(ConfigError, match="must be a web address"):
        make_settings(tmp_path, IVR_EVENTS_URL="crm.example.com", IVR_EVENTS_SECRET=SECRET)


async def test_an_event_is_written_with_its_record_or_not_at_all(sql: Sql) -> None:
    clock = Clock()
    outbox = EventOutbox(sql)
    returns = SqlReturns(sql, clock=clock)
    first = await returns.start(
        "5001", "900001", "mixer", "+1555", ReturnReason.DAMAGED, "en", date(2026, 11, 23)
    )
    assert first is not None
    # The same product again: no second return, so no second event either (the batch rolled back).
    again = await returns.start(
        "5001", "900001", "mixer", "+1555", ReturnReason.DAMAGED, "en", date(2026, 11, 23)
    )
    assert again is None
    voicemails = SqlVoicemailStore(sql, clock=clock)
    vm = await voicemails.start("CA3", "+15550100003", "order", {})
    assert await voicemails.recorded(vm, "https://api.twilio.com/rec/RE1", "RE1", 12)
    assert not await voicemails.recorded(vm, "https://api.twilio.com/rec/RE1", "RE1", 12)  # Twilio's retry
    store = OutreachStore(sql)
    assert await store.opt_out("+15550100004", "call", clock())
    assert not await store.opt_out("+15550100004", "call", clock())
    rows = await sql.fetch("SELECT id, type, body FROM event_outbox ORDER BY type")
    assert [row["type"] for row in rows] == ["contact.opted_out", "return.started", "voicemail.left"]
    started = json.loads(next(row["body"] for row in rows if row["type"] == "return.started"))
    assert started == {
        "id": event_id(EventType.RETURN_STARTED, "7001"),
        "type": "return.started",
        "created": clock.now,
        "data": {
            "rma": "7001",
            "order_number": "5001",
            "serial_number": "900001",
            "product": "mixer",
            "number": "+1555",
            "reason": "damaged",
            "language": "en",
            "started_on": "2026-11-23",
        },
    }
    assert (await outbox.counts())[DeliveryState.PENDING] == 3


async def test_an_endpoint_down_ten_minutes_gets_every_event_once_after_a_restart(
    sql: Sql, endpoint: Endpoint
) -> None:
    clock = endpoint.clock
    down_at = clock.now
    happened = await what_the_line_did(sql, clock)
    endpoint.mode = "down"
    async with worker(sql, endpoint.url, clock) as before:
        for _ in range(8):  # eight minutes, looking every minute: tries at 0, 30, 90 and 210 s
            await before.deliver_due()
            clock.now += 60
        assert endpoint.refused == 4 * len(happened) and not endpoint.taken
        # The line stops in the middle of a round: its claims are held, never finished.
        held = await before.outbox.claim(before.worker, clock(), LEASE, BATCH)
    assert {item.id for item in held} == happened
    endpoint.mode = "up"  # the endpoint is back while the line restarts
    async with reopened(sql) as restarted, worker(restarted, endpoint.url, clock) as after:
        clock.now += LEASE / 2
        assert await after.deliver_due() == 0  # the stopped line's leases still hold them
        clock.now = down_at + 10 * 60  # ten minutes after the endpoint went down
        assert await after.deliver_due() == len(happened)
        for _ in range(4):
            clock.now += MAX_RETRY
            assert await after.deliver_due() == 0
        assert set(endpoint.taken) == happened
        assert set(endpoint.taken.values()) == {1}, "an event arrived twice"
        assert endpoint.bad_signatures == 0
        counts = await after.outbox.counts()
    assert counts[DeliveryState.DELIVERED] == len(happened) and counts[DeliveryState.PENDING] == 0
    survey = endpoint.bodies[event_id(EventType.SURVEY_ANSWERED, "CA2")]
    assert survey["type"] == "survey.answered" and survey["data"]["score"] == 2


async def test_two_workers_on_one_database_send_each_event_once(sql: Sql, endpoint: Endpoint) -> None:
    clock = endpoint.clock
    for n in range(3 * BATCH):
        await record_event(sql, EventType.TEXT_SENT, f"SM{n}", {"message_sid": f"SM{n}"}, clock())
    async with (
        reopened(sql) as other,
        worker(sql, endpoint.url, clock) as one,
        worker(other, endpoint.url, clock) as two,
    ):
        sent = await asyncio.gather(
            one.deliver_due(), two.deliver_due(), one.deliver_due(), two.deliver_due()
        )
    assert sum(sent) == 3 * BATCH
    assert len(endpoint.taken) == 3 * BATCH and set(endpoint.taken.values()) == {1}


def refused_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/events"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("down", "HTTP 503"), ("refused", "cannot connect"), ("silent", "timed out after 0.3 s")],
)
async def test_a_failing_refusing_or_silent_endpoint_is_retried_with_backoff(
    tmp_path: Path, endpoint: Endpoint, mode: str, reason: str
) -> None:
    db = SQLiteDatabase(tmp_path / "line.db")
    sql = SQLiteSql(db)
    clock = endpoint.clock
    endpoint.mode = mode
    await record_event(sql, EventType.TEXT_SENT, "SM1", {"message_sid": "SM1"}, clock())
    ident = event_id(EventType.TEXT_SENT, "SM1")
    url = refused_url() if mode == "refused" else endpoint.url
    async with worker(sql, url, clock, timeout=0.3) as deliverer:
        waits = []
        for attempt in range(1, 5):
            assert await deliverer.deliver_due() == 0
            pending = await deliverer.outbox.get(ident)
            assert pending is not None and pending.state is DeliveryState.PENDING
            assert pending.attempts == attempt and pending.last_error.startswith(reason)
            waits.append(pending.next_at - clock())
            assert await deliverer.deliver_due() == 0  # not due yet: nothing is sent
            clock.now = pending.next_at
    assert waits == [FIRST_RETRY, 2 * FIRST_RETRY, 4 * FIRST_RETRY, 8 * FIRST_RETRY]
    await db.close()


async def test_after_a_day_an_event_is_a_dead_letter_a_supervisor_sends_again(
    aiohttp_client: Callable, tmp_path: Path, endpoint: Endpoint
) -> None:
    clock = endpoint.clock
    settings = make_settings(tmp_path, IVR_EVENTS_URL=endpoint.url, IVR_EVENTS_SECRET=SECRET)
    client = await console_client(aiohttp_client, create_app(settings))
    app = client.app
    deliverer = app[DELIVERER]
    deliverer.clock, deliverer.rand = clock, lambda: 1.0
    sql = app[STORES].sql
    await SqlSurveyRecorder(sql, clock=clock).record("CA9", 4)
    ident = event_id(EventType.SURVEY_ANSWERED, "CA9")
    endpoint.mode = "down"
    outbox = EventOutbox(sql)
    while (item := await outbox.get(ident)) is not None and item.state is DeliveryState.PENDING:
        clock.now = max(clock.now, item.next_at)
        await deliverer.deliver_due()
    assert item is not None and item.state is DeliveryState.DEAD
    assert item.done_at - item.created_at <= RETRY_HORIZON and item.last_error == "HTTP 503"
    assert not endpoint.taken

    await add_account(app, "alex", Role.AGENT)
    await add_account(app, "maria", Role.SUPERVISOR)
    assert isinstance(client.server, TestServer)
    agent = await console_client(aiohttp_client, client.server)
    assert await sign_in(agent, "alex")
    assert (await agent.get("/console/deliveries")).status == 403
    csrf = await sign_in(client, "maria")
    page = await (await client.get("/console/deliveries")).text()
    assert ident in page and "survey.answered" in page and "HTTP 503" in page
    assert "/events" in page  # where events go
    no_token = await client.post(f"/console/deliveries/{ident}/retry", data={})
    assert no_token.status == 403
    endpoint.mode = "up"
    retried = await client.post(f"/console/deliveries/{ident}/retry", data={"csrf_token": csrf})
    assert retried.status == 200 and "is sent again" in await retried.text()
    await deliverer.deliver_due()
    await endpoint.wait_for(1)
    assert endpoint.taken == {ident: 1}
    assert endpoint.bodies[ident]["data"] == {"call_sid": "CA9", "score": 4, "campaign": None, "number": None}
    (entry,) = [e for e in await AuditLog(sql).recent() if e.action == "event.retry"]
    assert (entry.actor, entry.subject) == ("maria", ident)
    again = await client.post(f"/console/deliveries/{ident}/retry", data={"csrf_token": csrf})
    assert again.status == 409  # delivered now: nothing to retry


async def test_a_return_started_on_a_call_reaches_the_company_with_its_label_text(
    aiohttp_client: Callable, tmp_path: Path, endpoint: Endpoint, twilio: TwilioAccount
) -> None:
    from tests.test_returns import LAST_DAY, ask_to_return, line

    client = await line(
        aiohttp_client, tmp_path, twilio, IVR_EVENTS_URL=endpoint.url, IVR_EVENTS_SECRET=SECRET
    )
    deliverer = client.app[DELIVERER]  # on the real clock, as the events written in the call
    caller, _ = await ask_to_return(client, LAST_DAY)
    await caller.press("1")
    assert "Your return number is 7 0 0 1." in (await caller.press("3")).heard[0]
    await deliverer.deliver_due()
    await endpoint.wait_for(2)
    kinds = {event["type"]: event["data"] for event in endpoint.bodies.values()}
    assert kinds["return.started"] == {
        "rma": "7001",
        "order_number": "5001",
        "serial_number": "900001",
        "product": "stand mixer",
        "number": LAST_DAY,
        "reason": "not_needed",
        "language": "en",
        "started_on": "2026-11-23",
    }
    (message,) = twilio.messages
    assert kinds["text.sent"]["number"] == LAST_DAY and kinds["text.sent"]["body"] == message.body
    assert set(endpoint.taken.values()) == {1}
