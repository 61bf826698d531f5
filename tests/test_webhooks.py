"""The webhook contract: signatures, duplicates, restarts, unknown calls, failures, records."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.store.sqlite import SQLiteDatabase, SQLiteSessionStore, sqlite_path
from ivr.testing.caller import PUBLIC_URL, STRANGER_PHONE, Caller, sign
from ivr.testing.demo_line import TODAY, load_demo_data
from ivr.web.app import create_app


async def _calls_table(settings: Settings) -> SQLiteSessionStore:
    return SQLiteSessionStore(SQLiteDatabase(sqlite_path(settings.database_url)))


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda url, params: None, id="missing"),
        pytest.param(lambda url, params: "bm90IGEgc2lnbmF0dXJl", id="forged"),
        pytest.param(lambda url, params: sign(url, params, token="someone-elses-token"), id="wrong-token"),
        pytest.param(lambda url, params: sign(url, {**params, "From": "+15550100001"}), id="tampered-body"),
        pytest.param(lambda url, params: sign(url.replace("/voice", "/voice/x"), params), id="other-url"),
    ],
)
async def test_unsigned_or_forged_webhooks_are_refused(client: TestClient, forge: Callable) -> None:
    caller = Caller(client, phone="+15550199999")
    params = caller.params()
    signature = forge(PUBLIC_URL + "/voice", params) or ""
    response = await caller.raw_post("/voice", params, signature=signature)
    assert response.status == 403
    assert "X-Twilio-Signature" in await response.text()


async def test_every_voice_route_checks_the_signature(client: TestClient) -> None:
    caller = Caller(client)
    for path in ("/voice/turn?seq=1", "/voice/status", "/voice/after-transfer"):
        response = await caller.raw_post(path, caller.params(), signature="AAAA")
        assert response.status == 403, path


async def test_a_tampered_turn_does_not_advance_the_call(client: TestClient, settings: Settings) -> None:
    caller = Caller(client, phone=STRANGER_PHONE)  # not on file: the call starts at the main menu
    await caller.dial()
    url = PUBLIC_URL + "/voice/turn?seq=1"
    params = caller.params({"Digits": "1"})
    forged = sign(url, caller.params({"Digits": "4"}))
    assert (await caller.raw_post(url, params, signature=forged)).status == 403
    store = await _calls_table(settings)
    session = await store.load(caller.call_sid)
    await store.db.close()
    assert session is not None and session.state == "main_menu" and session.seq == 1


async def test_a_duplicated_webhook_advances_the_call_once(client: TestClient, settings: Settings) -> None:
    caller = Caller(client, phone=STRANGER_PHONE)
    await caller.dial()
    await caller.press("2")
    action = caller._action()
    first, second = await asyncio.gather(
        caller.post(action, {"Digits": "2718"}), caller.post(action, {"Digits": "2718"})
    )
    assert first.twiml == second.twiml
    assert "ready for pickup" in first.text
    retry = await caller.post(action, {"Digits": "2718"})  # Twilio retrying after a timeout
    assert retry.twiml == first.twiml
    store = await _calls_table(settings)
    session = await store.load(caller.call_sid)
    await store.db.close()
    assert session is not None
    assert session.path.count("repair_status") == 1
    assert session.seq == 3


async def test_a_repeated_start_gets_the_same_greeting(caller: Caller) -> None:
    first = await caller.dial_to_menu()
    again = await caller.dial_to_menu()
    assert again.twiml == first.twiml


async def test_the_call_survives_a_server_restart(aiohttp_client: Callable, settings: Settings) -> None:
    await load_demo_data(settings)
    first_server = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(first_server)
    await caller.dial_to_menu()
    await caller.press("1")
    action = caller._action()
    await first_server.close()

    second_server = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller.client = second_server
    turn = await caller.post(action, {"Digits": "4512"})
    assert "has shipped with UPS" in turn.text


async def test_a_turn_for_a_call_never_seen_starts_at_the_greeting(client: TestClient) -> None:
    caller = Caller(client)
    turn = await caller.post("/voice/turn?seq=7", {"Digits": "1"})
    assert turn.heard[0] == "Thanks for calling Acme after-sales support."


async def test_a_broken_database_gets_an_apology_and_an_agent(caller: Caller, settings: Settings) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    with sqlite3.connect(Path(settings.database_url.removeprefix("sqlite:///"))) as conn:
        conn.execute("DROP TABLE orders")
    turn = await caller.press("4512")
    assert turn.heard == ["I'm sorry, something went wrong on our side. Let me connect you with an agent."]
    assert turn.handoff is not None
    after = await caller.transfer_ends("leave")
    assert after.heard[0].startswith("I'm sorry, nobody is free")
    assert after.hung_up


async def test_bad_requests_get_a_clear_400(client: TestClient) -> None:
    caller = Caller(client)
    params = {"From": "+15550100001"}
    response = await caller.raw_post("/voice", params)
    assert response.status == 400
    assert "CallSid" in await response.text()
    response = await caller.raw_post("/voice/turn?seq=abc", caller.params())
    assert response.status == 400


async def test_status_callback_files_the_outcome(caller: Caller, settings: Settings) -> None:
    await caller.dial_to_menu()
    await caller.press("4")
    await caller.press("5")
    await caller.press("9")
    await caller.hang_up()
    abandoned = Caller(caller.client)
    await abandoned.dial_to_menu()
    await abandoned.hang_up()
    store = await _calls_table(settings)
    calls = {c.call_sid: c for c in await store.list_calls()}
    done = await store.get_call(caller.call_sid)
    await store.db.close()
    assert calls[caller.call_sid].status == "completed"
    assert calls[caller.call_sid].outcome == "resolved"
    assert calls[abandoned.call_sid].outcome == "abandoned"
    assert done is not None and done.ended_at is not None
    assert done.path == [
        "welcome",
        "find_return",
        "find_repair_booking",
        "find_caller",
        "caller_orders",
        "main_menu",
        "faq_menu",
        "faq_hours",
        "anything_else",
        "goodbye",
    ]
    said = [e.text for e in done.transcript if e.who == "caller"]
    assert said == ["said 'no'", "pressed 4", "pressed 5", "pressed 9"]


async def test_progress_callbacks_do_not_end_a_live_call(caller: Caller, settings: Settings) -> None:
    await caller.dial_to_menu()
    response = await caller.raw_post("/voice/status", caller.params({"CallStatus": "ringing"}))
    assert response.status == 204
    turn = await caller.press("1")
    assert "key in your order number" in turn.text


async def test_a_hang_up_during_a_turn_is_not_overwritten_by_that_turn(
    caller: Caller, settings: Settings
) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    store = await _calls_table(settings)
    in_flight = await store.load(caller.call_sid)  # a turn that has loaded the call...
    assert in_flight is not None
    await caller.hang_up()  # ...when Twilio reports the hang-up
    in_flight.state = "order_status"
    assert not await store.save(in_flight, in_flight.seq)  # the turn's save loses
    ended = await store.load(caller.call_sid)
    await store.db.close()
    assert ended is not None and ended.status == "completed" and ended.ended_at is not None


async def test_keyed_postal_codes_stay_out_of_the_call_record(client: TestClient, settings: Settings) -> None:
    caller = Caller(client, phone="+15550199999")
    await caller.dial_to_menu()
    await caller.press("1")
    await caller.press("7788")
    await caller.press("10001")
    store = await _calls_table(settings)
    record = await store.get_call(caller.call_sid)
    await store.db.close()
    assert record is not None
    said = [e.text for e in record.transcript if e.who == "caller"]
    assert said == ["pressed 1", "pressed 7788", "keyed a value (hidden)"]
    assert "10001" not in record.to_json()


async def test_a_body_that_is_not_a_form_gets_400_not_500(client: TestClient) -> None:
    response = await client.post(
        "/voice",
        data=b"\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=bogus"},
    )
    assert response.status == 400


async def test_a_late_webhook_after_the_call_ended_changes_nothing(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.hang_up()
    late = await caller.post("/voice/turn?seq=1", {"Digits": "1"})
    assert late.heard == ["Goodbye."] and late.hung_up  # the call stays ended


async def test_a_replayed_webhook_never_reads_out_the_call_s_latest_answer(caller: Caller) -> None:
    """A captured signed request sent again gets what it got the first time, or a goodbye.

    (The first answer to a caller on file offers their latest order, as it did the first time;
    what the call went on to hear is never in it.)"""
    welcome = await caller.dial_to_menu()
    first_answer = await caller.press("1")
    order = await caller.press("4513")
    assert "Jane Doe" in order.text and "out for delivery" in order.text

    again = await caller.dial()  # the call's first POST /voice, replayed
    assert again.heard == welcome.heard
    assert "4 5 1 3" not in again.text and "out for delivery" not in again.text
    assert welcome.gather is not None
    stale = await caller.post(welcome.gather.get("action", ""), {"Digits": "1"})  # turn 1, replayed
    assert stale.heard == ["Goodbye."] and "Jane" not in stale.text
    assert first_answer.gather is not None
    latest = await caller.post(first_answer.gather.get("action", ""), {"Digits": "4513"})
    assert "out for delivery" in latest.text  # the latest turn delivered twice: answered as the first time

    await caller.hang_up()
    for request in (welcome, first_answer):
        assert request.gather is not None
        ended = await caller.post(request.gather.get("action", ""), {"Digits": "4513"})
        assert ended.heard == ["Goodbye."] and ended.hung_up
    after = await caller.dial()
    assert after.heard == ["Goodbye."] and "Jane" not in after.text


async def test_an_oversized_webhook_is_refused_before_it_is_read_and_the_call_goes_on(caller: Caller) -> None:
    await caller.dial_to_menu()
    params = caller.params({"SpeechResult": "where is my order " * 6_000})  # about 100 KB
    response = await caller.raw_post(caller._action(), params)
    assert response.status == 413
    turn = await caller.press("1")
    assert "key in your order number" in turn.text
