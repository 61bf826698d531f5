"""The flow engine fed a call's events directly (no HTTP), with the real SQLite repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import load_flow
from ivr.flow.steps import Digits, Event, Say, Start, Step, Transfer
from ivr.importer import ImportKind, parse_file
from ivr.prompts import load_catalogs
from ivr.records import Order, OrderStatus
from ivr.session import CallSession
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository
from ivr.testing.demo_line import DEMO, ROOT, TODAY


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[FlowEngine]:
    db = SQLiteDatabase(tmp_path / "ivr.db")
    repo = SQLiteRepository(db)
    for kind in ImportKind:
        await repo.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    yield FlowEngine(flow, catalogs["en"], repo, today=lambda: TODAY)
    await db.close()


async def play(engine: FlowEngine, session: CallSession, *events: Event) -> list[Step]:
    steps = await engine.handle(session, Start())
    for event in events:
        steps = await engine.handle(session, event)
    return steps


async def test_the_agent_sees_only_the_order_in_hand_and_whether_it_was_verified(engine: FlowEngine) -> None:
    session = engine.new_session("CA1", "+15550100001", "+15550009999")
    # Verified by caller ID on 4512, then asks about a stranger's 7788, then presses 0.
    steps = await play(engine, session, Digits("1"), Digits("4512"), Digits("2"), Digits("7788"), Digits("0"))
    transfer = steps[-1]
    assert isinstance(transfer, Transfer)
    assert transfer.reason == "caller_asked"
    assert transfer.context["order_number"] == "7788"
    assert transfer.context["verified"] == "no"
    assert "customer_name" not in transfer.context and "order_status" not in transfer.context


async def test_a_verified_caller_hands_over_the_order_and_its_status(engine: FlowEngine) -> None:
    session = engine.new_session("CA2", "+15550100001", "+15550009999")
    steps = await play(engine, session, Digits("1"), Digits("4512"), Digits("0"))
    transfer = steps[-1]
    assert isinstance(transfer, Transfer)
    assert transfer.context["verified"] == "yes"
    assert transfer.context["order_status"] == "shipped"
    assert transfer.context["customer_name"] == "Jane Doe"


async def test_postal_codes_with_letters_are_keyed_as_on_a_phone_keypad(engine: FlowEngine) -> None:
    order = Order(
        "5150",
        "+442071234567",
        "Ada Byron",
        "SW1A 1AA",
        OrderStatus.PROCESSING,
        "",
        "",
        date(2026, 11, 20),
        None,
        None,
    )
    await engine.repository.upsert([order])
    session = engine.new_session("CA3", "+15550199999", "+15550009999")
    steps = await play(engine, session, Digits("1"), Digits("5150"), Digits("7912122"))
    spoken = [s.text for s in steps if isinstance(s, Say)]
    assert spoken[:2] == ["Thanks, Ada Byron.", "Order 5 1 5 0 is being prepared for shipping."]


async def test_the_numbers_a_media_stream_expects_are_the_caller_s_own_at_their_question(
    engine: FlowEngine,
) -> None:
    """What ends a spoken order number after the short pause: the caller ID's own orders, only."""
    own = engine.new_session("CA3", "+15550100001", "+15550009999")
    await play(engine, own, Digits("2"))  # not the order offered: another one, by number
    assert own.state == "order_number"
    assert await engine.expected_answers(own) == frozenset({"4512", "4513"})
    stranger = engine.new_session("CA4", "+15550100099", "+15550009999")
    await play(engine, stranger)
    assert await engine.expected_answers(stranger) == frozenset()  # a menu, not a number
    await engine.handle(stranger, Digits("1"))
    assert stranger.state == "order_number"
    assert await engine.expected_answers(stranger) == frozenset()  # nothing on file: no hint either way
