"""`ivr privacy export` and `erase`: everything about a phone number, then nothing at all.

A German customer's day on the line, on SQLite and on PostgreSQL, with live calls in Redis:
a finished call with its German transcript and a survey score, a call still waiting in the
queue, a voicemail with its recording on disk, a callback, a campaign contact with consent
and an opt-out, the language they are greeted in, the day's lookups, their order, warranty
and repair. The export must hold each of them; after the erasure every table and every
Redis key is searched for the number and the customer's name, and neither is found, while
the insights still count the call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ivr.agents.model import EntryState, TranscriptStatus
from ivr.agents.store.callbacks import SqlCallbackStore
from ivr.agents.store.queue import SqlQueueStore
from ivr.agents.store.voicemails import SqlVoicemailStore
from ivr.importer import ImportKind, parse_file
from ivr.outreach.store import Event, OutreachStore
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.store.accounts import Role
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.privacy import erase_number, export_number
from ivr.store.redis import RedisSessionStore
from ivr.store.sql import Sql
from ivr.store.surveys import SqlSurveyRecorder
from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, TODAY, load_demo_data, make_settings
from ivr.testing.services import REDIS_URL, require
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import add_account, console_client, sign_in

ANNA = "+4915112345678"
"""The demo's German customer (order 4620, repair 3150)."""
NAME = "Anna Schmidt"


async def tables(sql: Sql, sqlite: bool) -> list[str]:
    if sqlite:
        rows = await sql.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [row["name"] for row in rows]
    rows = await sql.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return [row["table_name"] for row in rows]


async def everything(sql: Sql, sqlite: bool, redis: Redis, prefix: str) -> str:
    """Every row of every table and every value of every key of ours, as one text."""
    seen = []
    for table in await tables(sql, sqlite):
        for row in await sql.fetch(f"SELECT * FROM {table}"):
            seen.append(f"{table}: {json.dumps(dict(row), default=str, ensure_ascii=False)}")
    async for key in redis.scan_iter(match=f"{prefix}*"):
        kind = await redis.type(key)
        value = (
            await redis.hgetall(key)
            if kind == "hash"
            else await redis.zrange(key, 0, -1)
            if kind == "zset"
            else await redis.get(key)
        )
        seen.append(f"{key!r}: {value!r}")
    return "\n".join(seen)


async def test_export_holds_a_whole_day_and_erase_leaves_nothing(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount, database_url: str
) -> None:
    require("Redis", "127.0.0.1", 6379)
    settings = make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=twilio.api_base,
        IVR_DATABASE_URL=database_url,
        IVR_SESSION_URL=REDIS_URL,
        IVR_LANGUAGES="en,de,sv",
    )
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    stores = client.app[STORES]
    sql = stores.sql
    assert isinstance(stores.sessions, RedisSessionStore)
    sessions: RedisSessionStore = stores.sessions
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await SqlCallerLanguages(sql).import_orders({ANNA: "de"})
    await OutreachStore(sql).save_consent("orders", [("4620", True, "Europe/Berlin")])

    # a finished call: greeted in German with her order, she hears it and is done
    finished = Caller(client, phone=ANNA)
    offer = await finished.dial()
    assert "Bestellung 4 6 2 0" in offer.text
    status = await finished.say("ja")
    assert "DHL" in status.text
    await finished.say("das war's")
    await finished.hang_up()
    await SqlSurveyRecorder(sql).record(finished.call_sid, 5)
    # a call still live in Redis, waiting for a person
    waiting = Caller(client, phone=ANNA)
    asked = await waiting.dial()
    assert asked.gather is not None
    first_question = asked.gather.get("action", "")
    await waiting.say("Ich möchte mit einem Mitarbeiter sprechen")
    now = time.time()
    entry = await SqlQueueStore(sql, clock=time.time).add(
        waiting.call_sid, ANNA, "caller_asked", {"customer_name": NAME}, "de"
    )
    await sql.atomic([SqlCallbackStore(sql, clock=time.time).add("cb-anna", entry)])
    await SqlQueueStore(sql, clock=time.time).leave(entry.id, EntryState.CALLBACK)
    voicemails = SqlVoicemailStore(sql, clock=time.time)
    vm_id = await voicemails.start("CA-voicemail-anna", ANNA, "closed", {"customer_name": NAME})
    recording = tmp_path / "voicemail" / f"{vm_id}.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(b"RIFF")
    await voicemails.processed(
        vm_id,
        audio_file=str(recording),
        transcript="Hier ist Anna Schmidt, bitte rufen Sie mich zurück",
        status=TranscriptStatus.DONE,
        problem="",
    )
    outreach = OutreachStore(sql)
    event = Event("order_delivered:4620", ANNA, "Europe/Berlin", now, {"customer_name": NAME})
    await outreach.enqueue("delivery-followup", [event], now)
    await outreach.opt_out(ANNA, "call", now)
    await stores.repository.count(ANNA, "lookups", TODAY)

    exported = await export_number(sql, ANNA, sessions)
    counts = exported.counts()
    for section in (
        "survey_answers", "voicemails", "callbacks", "queue_entries", "campaign_contacts", "consent",
        "opt_outs", "caller_language", "lookup_counts", "orders", "repairs", "warranties", "live_sessions",
    ):  # fmt: skip
        assert counts[section] >= 1, (section, counts)
    heard = [e["text"] for call in exported.records["calls"] for e in call["data"]["transcript"]]
    assert any("Ihre Bestellung 4 6 2 0" in text for text in heard)  # the transcript, as she heard it
    assert json.loads(exported.to_json())["records"]["voicemails"][0]["transcript"].startswith("Hier ist")

    erased = await erase_number(sql, ANNA, actor="maria", sessions=sessions)
    assert erased.files == 1 and not recording.exists()
    assert erased.erased["orders"] == 3 and erased.erased["live_sessions"] >= 1

    redis = sessions.client
    left = await everything(sql, database_url.startswith("sqlite"), redis, sessions.prefix)
    assert ANNA not in left and ANNA[1:] not in left and NAME not in left
    again = await export_number(sql, ANNA, sessions)
    assert not any(again.counts().values()), again.counts()
    # the call is still counted: its record stays, without anyone in it
    kept = await sql.fetchone("SELECT caller, outcome FROM calls WHERE call_sid = $1", finished.call_sid)
    assert kept is not None and kept["caller"] == "" and kept["outcome"]
    [audit] = await sql.fetch(
        "SELECT actor, action, subject, detail FROM audit_log WHERE action = 'privacy.erase'"
    )
    assert audit["actor"] == "maria" and ANNA not in audit["subject"] and '"orders": 3' in audit["detail"]

    # late webhooks for the erased live call (a turn, then the final status) bring nothing back
    late = await waiting.post(first_question, {"Digits": "1"})
    assert late.hung_up and "Auf Wiederhören" in late.text
    await waiting.hang_up()
    left = await everything(sql, database_url.startswith("sqlite"), redis, sessions.prefix)
    assert ANNA not in left and NAME not in left

    # she had said "never call me again": when her number comes back in new data (a later
    # order, its campaign event), the opt-out is back before anyone could call her
    later = Event("order_delivered:4711", ANNA, "Europe/Berlin", now, {})
    await outreach.enqueue("delivery-followup", [later], now)
    [kept] = await outreach.optouts()
    assert (kept["number"], kept["source"]) == (ANNA, "kept after erasure")
    await outreach.tidy("delivery-followup", now)
    assert (await outreach.counts("delivery-followup"))["opted_out"] == 1
    await outreach.opt_in(ANNA)  # she asks to be called again: nothing keeps her out any more
    await outreach.enqueue("delivery-followup", [later], now)
    assert await outreach.optouts() == []


async def test_erase_refuses_what_is_not_a_number(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stores = create_app(settings)[STORES]
    with pytest.raises(ValueError, match=r"E\.164"):
        await erase_number(stores.sql, "Anna", actor="maria")


async def test_an_admin_exports_and_erases_a_number_on_the_console(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, IVR_LANGUAGES="en,de,sv")
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "root", Role.ADMIN)
    await add_account(client.app, "sam", Role.SUPERVISOR)
    csrf = await sign_in(client, "sam")
    refused = await client.post("/console/privacy/export", data={"csrf_token": csrf, "number": ANNA})
    assert refused.status == 403  # supervisors see the figures, not a customer's file
    await client.post("/console/logout", data={"csrf_token": csrf})
    csrf = await sign_in(client, "root")

    exported = await client.post(
        "/console/privacy/export", data={"csrf_token": csrf, "number": "+49 151 12345678"}
    )
    assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
    found = json.loads(await exported.text())
    assert [o["order_number"] for o in found["records"]["orders"]] == ["4600", "4620", "4621"]

    mistyped = await client.post(
        "/console/privacy/erase", data={"csrf_token": csrf, "number": ANNA, "confirm": "+4915112345679"}
    )
    assert mistyped.status == 400 and "Nothing was erased" in await mistyped.text()
    erased = await client.post(
        "/console/privacy/erase", data={"csrf_token": csrf, "number": ANNA, "confirm": ANNA}
    )
    assert "Erased +4**********78: " in await erased.text()
    sql = client.app[STORES].sql
    assert await sql.fetch("SELECT order_number FROM orders WHERE phone = $1", ANNA) == []
    [audit] = await sql.fetch("SELECT actor FROM audit_log WHERE action = 'privacy.erase'")
    assert audit["actor"] == "root"
