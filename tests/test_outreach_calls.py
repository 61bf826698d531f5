"""Campaign calls end to end: the real server on loopback, the sandbox's Twilio account placing
the calls and sending the signed webhooks Twilio would (AnsweredBy, status callbacks), the
real `twilio` client, and a fixed clock."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.store.callbacks import SqlCallbackStore
from ivr.insights.store import SqlSurveyAnswers
from ivr.outreach.service import Outreach
from ivr.outreach.store import Target, TargetState
from ivr.sandbox.account import LINE_NUMBER
from ivr.sandbox.outbound import OutboundAccount, running_outbound_account
from ivr.speakable import phone_number
from ivr.testing.caller import PUBLIC_URL, TOKEN
from tests.outreach_line import (
    JANE,
    NOON_IN_NEW_YORK,
    REVIEW_URL,
    Clock,
    import_customers,
    outreach_app,
    outreach_of,
    outreach_settings,
    press,
    said,
)

CAMPAIGN = "delivery-followup"


@pytest.fixture
async def twilio() -> object:
    async with running_outbound_account(TOKEN) as account:
        yield account


async def started(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount, clock: Clock
) -> Outreach:
    settings = outreach_settings(tmp_path, twilio)
    await import_customers(settings.database_url)
    client: TestClient = await aiohttp_client(outreach_app(settings, clock))
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    outreach = outreach_of(client.app)
    await outreach.store.set_enabled(CAMPAIGN, True, "test", clock())
    return outreach


async def one_call(outreach: Outreach, twilio: OutboundAccount) -> str:
    result = await outreach.run_round(CAMPAIGN)
    assert len(result.placed) == 1, result
    return result.placed[0]


async def test_a_delivered_order_with_consent_gets_one_call_and_nobody_else_is_called(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)

    result = await outreach.run_round(CAMPAIGN)

    # Jane agreed and it is noon in New York. Sam did not agree, the opted-out number is on the
    # list, it is 4 in the morning in Sydney, and Jane's other order is not delivered yet.
    creates = twilio.requests_to("/Calls.json")
    assert [r.get("To") for r in creates] == [JANE]
    assert creates[0].get("MachineDetection") == "DetectMessageEnd"
    assert (creates[0].get("StatusCallback") or "").startswith(f"{PUBLIC_URL}/voice/outbound/status")
    assert result.outside_window == 1
    counts = await outreach.store.counts(CAMPAIGN)
    assert counts["opted_out"] == 1 and counts["calling"] == 1 and counts["waiting"] == 1

    # The next round, an hour later, calls nobody again about the same delivery.
    clock.now += 3600
    again = await outreach.run_round(CAMPAIGN)
    assert again.placed == [] and len(twilio.requests_to("/Calls.json")) == 1


async def test_a_happy_customer_who_accepts_gets_the_review_text(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)

    answered = await twilio.answer_as(sid, "human")
    assert answered.status == 200
    assert "Hi Jane Doe, this is Acme. Your coffee machine was delivered on Friday" in said(answered.body)
    assert "How happy are you with it, from 1 to 5?" in said(answered.body)
    assert twilio.texts == []

    offer = await press(twilio, sid, answered.body, "5")
    assert "May we text you a link" in said(offer)
    assert twilio.texts == []  # nothing is sent before the customer says yes

    done = await press(twilio, sid, offer, "1")
    assert "The text is on its way" in said(done)
    assert [(t.to, REVIEW_URL in t.body) for t in twilio.texts] == [(JANE, True)]

    await twilio.post_status(sid, "completed")
    record = await outreach.lines["followup"].sessions.load(sid)  # what `ivr calls show` reads
    assert record is not None and record.caller == JANE and record.vars["campaign"] == CAMPAIGN
    assert (record.status, record.outcome) == ("completed", "review_text_sent")
    assert JANE not in [t.number for t in await outreach.store.due(CAMPAIGN, clock() + 10**6)]
    report = await outreach.store.counts(CAMPAIGN)
    assert report["done"] == 1
    scores = await outreach.store.scores(CAMPAIGN)
    assert [int(r["score"]) for r in scores] == [5]
    # the same answer is the satisfaction the insights page shows
    answers = await SqlSurveyAnswers(outreach.sql).scores(0, clock() + 86400)
    assert [(int(r["score"]), int(r["answers"])) for r in answers] == [(5, 1)]


async def test_an_unhappy_customer_who_presses_1_is_a_service_recovery_callback_first_on_the_desk(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    # An ordinary callback asked for earlier, already waiting on the desk.
    await outreach.sql.execute(
        "INSERT INTO callbacks VALUES ('older', 'CAold', '+15550100001', 'caller_asked', '{}', '', 1,"
        " 'pending', 0, 1, '', '', '', '', 1)"
    )
    sid = await one_call(outreach, twilio)
    answered = await twilio.answer_as(sid, "human")

    sorry = await press(twilio, sid, answered.body, "2")
    assert "I'm sorry it wasn't better" in said(sorry)
    promised = await press(twilio, sid, sorry, "1")
    assert "Someone from our team will call you soon" in said(promised)

    listed = await SqlCallbackStore(outreach.sql, clock=clock).listed(include_done=False)
    assert [c.reason for c in listed] == ["service_recovery", "caller_asked"]
    recovery = listed[0]
    assert recovery.number == JANE
    assert recovery.context["order_number"] == "5001"
    assert recovery.context["survey_score"] == "2"
    assert recovery.context["campaign"] == CAMPAIGN
    assert recovery.context["product"] == "coffee machine"
    unhappy = await outreach.store.unhappy(CAMPAIGN, 4)
    assert [(r["score"], r["callback_state"]) for r in unhappy] == [(2, "pending")]
    assert twilio.texts == []


async def test_a_machine_gets_the_short_message_and_no_survey(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)

    answered = await twilio.answer_as(sid, "machine_end_beep")

    text = said(answered.body)
    assert "this is Acme, calling Jane Doe" in text and "please call us back at" in text
    assert phone_number(LINE_NUMBER) in text and "+" not in text  # the number as dialled at home
    assert "<Gather" not in answered.body and "<Hangup" in answered.body
    await twilio.post_status(sid, "completed")
    counts = await outreach.store.counts(CAMPAIGN)
    assert counts["machine"] == 1 and counts["waiting"] == 1  # Sydney still waits for morning
    clock.now += 8 * 3600
    assert (await outreach.run_round(CAMPAIGN)).placed == [] or JANE not in [
        r.get("To") for r in twilio.requests_to("/Calls.json")[1:]
    ]


async def test_pressing_9_opts_the_number_out_of_every_campaign(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)
    answered = await twilio.answer_as(sid, "human")

    bye = await press(twilio, sid, answered.body, "9")

    assert "You won't get these calls again" in said(bye)
    assert JANE in [r["number"] for r in await outreach.store.optouts()]


async def test_an_answer_that_is_not_a_score_is_asked_once_more_then_thanked(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)
    answered = await twilio.answer_as(sid, "human")

    again = await press(twilio, sid, answered.body, "7")
    assert "please answer with a number from 1 to 5" in said(again)
    bye = await press(twilio, sid, again, "8")
    assert "Thanks for your time. Goodbye." in said(bye) and "<Hangup" in bye
    assert await outreach.store.scores(CAMPAIGN) == []


async def test_refused_and_unanswered_calls_are_retried_within_the_attempts_across_a_restart(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    twilio.fail_next(1, 429)

    refused = await outreach.run_round(CAMPAIGN)
    assert refused.placed == [] and refused.refused == 1
    query = "SELECT state, attempts, last_error FROM outreach_targets WHERE number = $1"
    row = (await outreach.sql.fetch(query, JANE))[0]
    assert (row["state"], row["attempts"]) == ("waiting", 1) and "429" in row["last_error"]

    clock.now += 4 * 3600  # the spacing: 16:00 in New York, still inside the window
    sid = await one_call(outreach, twilio)

    # The service restarts while the phone rings: a new instance on the same database.
    settings = outreach_settings(tmp_path, twilio)
    second: TestClient = await aiohttp_client(outreach_app(settings, clock))
    twilio.deliver_to(PUBLIC_URL, str(second.make_url("")))
    restarted = outreach_of(second.app)
    assert (await restarted.run_round(CAMPAIGN)).placed == []  # not doubled

    await twilio.post_status(sid, "no-answer")  # reaches the new instance
    clock.now += 3600  # 17:00 in New York: too soon, the spacing is 4 hours
    assert (await restarted.run_round(CAMPAIGN)).placed == []
    clock.now = NOON_IN_NEW_YORK + 24 * 3600 - 90 * 60  # 10:30 the next morning in New York
    last = (await restarted.run_round(CAMPAIGN)).placed
    assert [twilio.calls[sid].to for sid in last] == [JANE]  # the third and last attempt
    await twilio.post_status(last[0], "busy")
    clock.now += 24 * 3600
    assert (await restarted.run_round(CAMPAIGN)).placed == []
    counts = await restarted.store.counts(CAMPAIGN)
    assert counts["no_answer"] == 1
    assert [r.get("To") for r in twilio.requests_to("/Calls.json")] == [JANE] * 3


async def test_status_json_counts_states_and_scores(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    from ivr.outreach.service import campaign_status

    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)
    answered = await twilio.answer_as(sid, "human")
    await press(twilio, sid, answered.body, "4")

    report = await campaign_status(outreach, CAMPAIGN)

    assert json.loads(json.dumps(report))["scores"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert report["average"] == 4.0 and report["enabled"] is True
    assert report["counts"]["answered"] == 1  # type: ignore[index]
    assert TargetState.ANSWERED.value == "answered"


async def test_a_negative_number_said_is_not_a_score(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    """Twilio transcribes "minus one" as "-1"; its digits alone were kept as a score of 1."""
    outreach = await started(aiohttp_client, tmp_path, twilio, Clock())
    sid = await one_call(outreach, twilio)
    answered = await twilio.answer_as(sid, "human")
    gather = ET.fromstring(answered.body).find("Gather")
    assert gather is not None
    params = {**twilio.call_params(twilio.calls[sid]), "SpeechResult": "-1", "Confidence": "0.9"}
    again = await twilio.post_signed(gather.attrib["action"], params)
    assert "please answer with a number from 1 to 5" in said(again.body)
    assert await outreach.store.scores(CAMPAIGN) == []


async def test_an_opt_out_during_a_campaign_call_ends_it_politely_and_cancels_what_waits(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    """Jane is on the follow-up call, with the warranty offer queued behind it, when her number
    is put on the opt-out list elsewhere (`ivr contacts optout`, which writes this): her next
    answer hears the opt-out's goodbye, not the next question, and nothing queued calls her."""
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    await outreach.store.set_enabled("warranty-expiry", True, "test", clock())
    sid = await one_call(outreach, twilio)
    assert (await outreach.run_round("warranty-expiry")).placed == []  # one call at a time
    answered = await twilio.answer_as(sid, "human")
    assert "How happy are you with it" in said(answered.body)

    await outreach.store.opt_out(JANE, "cli:test", clock())
    bye = await press(twilio, sid, answered.body, "5")

    assert said(bye) == "You won't get these calls again. Thank you, goodbye."
    assert "<Hangup" in bye and "<Gather" not in bye
    assert await outreach.store.scores(CAMPAIGN) == []  # the answer after the opt-out is not kept
    await twilio.post_status(sid, "completed")
    record = await outreach.lines["followup"].sessions.load(sid)
    assert record is not None and record.outcome == "opted_out"
    assert (await outreach.store.counts("warranty-expiry"))["opted_out"] == 1
    clock.now += 24 * 3600
    for name in (CAMPAIGN, "warranty-expiry"):
        assert (await outreach.run_round(name)).placed == []
    assert [r.get("To") for r in twilio.requests_to("/Calls.json")] == [JANE]


async def test_an_opt_out_while_the_phone_rings_is_only_the_goodbye(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    sid = await one_call(outreach, twilio)

    await outreach.store.opt_out(JANE, "cli:test", clock())
    answered = await twilio.answer_as(sid, "human")

    assert said(answered.body) == "You won't get these calls again. Thank you, goodbye."
    assert "<Gather" not in answered.body and "<Hangup" in answered.body
    assert (await outreach.store.counts(CAMPAIGN))["opted_out"] == 2  # Jane and the one before


async def test_a_claimed_call_is_not_placed_once_its_number_opted_out(
    aiohttp_client: Callable, tmp_path: Path, twilio: OutboundAccount
) -> None:
    """The opt-out lands between the claim and the call to Twilio: no call is made."""
    clock = Clock()
    outreach = await started(aiohttp_client, tmp_path, twilio, clock)
    store = outreach.store
    claim = store.claim

    async def claim_then_opt_out(
        campaign: str, ids: Sequence[str], now: float, *, concurrent_cap: int, daily_cap: int
    ) -> list[Target]:
        claimed = await claim(campaign, ids, now, concurrent_cap=concurrent_cap, daily_cap=daily_cap)
        for target in claimed:
            await store.opt_out(target.number, "cli:test", clock())
        return claimed

    store.claim = claim_then_opt_out  # type: ignore[method-assign]
    assert (await outreach.run_round(CAMPAIGN)).placed == []
    assert twilio.requests_to("/Calls.json") == []
