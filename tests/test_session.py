"""A call's session survives the trip through the store unchanged."""

from __future__ import annotations

from dataclasses import asdict

from ivr.session import CallSession, TranscriptEntry


def test_session_round_trips_through_json_with_every_field() -> None:
    session = CallSession(
        call_sid="CA1",
        caller="+15550100001",
        called="+15550009999",
        flow="support",
        state="order_more",
        started_at=1700000000.5,
        seq=4,
        vars={"order_number": "4512", "customer_name": "Jane Doe"},
        attempts={"main_menu": 1},
        visits={"welcome": 1, "main_menu": 2},
        path=["welcome", "main_menu", "order_number"],
        transcript=[
            TranscriptEntry(0.0, "bot", "Thanks for calling"),
            TranscriptEntry(1.5, "caller", "pressed 1"),
        ],
        outcome="resolved",
        status="completed",
        ended_at=1700000100.25,
        last_response="<Response><Hangup/></Response>",
    )
    restored = CallSession.from_json(session.to_json())
    assert restored == session
    assert asdict(restored) == asdict(session)
