"""The agent's screen pop: who, what they want and the one fact that matters, in words."""

from __future__ import annotations

from datetime import date

from ivr.console.screen_pop import screen_pop
from ivr.session import TranscriptEntry

TODAY = date(2026, 12, 7)
REPAIR_LATE = {
    "customer_name": "Jane Doe",
    "verified": "yes",
    "order_number": "4512",
    "verified_order": "4512",
    "order_status": "shipped",
    "carrier": "UPS",
    "ship_date": "2026-11-23",
    "eta_due": "2026-12-20",
    "ticket_number": "3141",
    "repair_product": "espresso machine",
    "repair_status": "waiting_for_parts",
    "repair_updated_on": "2026-11-21",
    "repair_late": "2026-12-02",
    "language": "en",
}


def said(who: str, text: str) -> TranscriptEntry:
    return TranscriptEntry(at=0.0, who=who, text=text)


def test_the_repair_asked_about_last_comes_first_with_how_late_it_is() -> None:
    transcript = [
        said("flow", "find_caller: order"),
        said("bot", "Are you calling about order 4 5 1 2?"),
        said("caller", "said 'no'"),
        said("caller", "said 'my espresso machine repair'"),
        said("flow", "find_repair: found"),
        said("bot", "Repair 3 1 4 1 is waiting for parts."),
        said("bot", "Anything else?"),
        said("caller", "pressed 0"),
    ]
    pop = screen_pop(REPAIR_LATE, "caller_asked", transcript, TODAY)
    assert (pop.who, pop.verified, pop.wants) == (
        "Jane Doe",
        "Verified by caller ID",
        "Asked for a person · speaks English",
    )
    assert pop.facts == [
        "Repair 3141, espresso machine, waiting for parts since 21 Nov, 5 days late (due 2 Dec)",
        "Order 4512, shipped with UPS on 23 Nov, due 20 Dec",
    ]
    assert pop.said == "my espresso machine repair", "a bare 'no' to a menu says nothing"
    assert pop.told == "Repair 3 1 4 1 is waiting for parts.", "the answer, not the menu after it"
    assert ("Repair status", "waiting for parts") in pop.details and (
        "Repair was due (late)",
        "2 Dec",
    ) in pop.details
    assert all("_" not in name and "2026-" not in value for name, value in pop.details)


def test_an_order_verified_by_postal_code_comes_first_when_looked_up_last() -> None:
    transcript = [
        said("flow", "find_repair: found"),
        said("flow", "find_order: needs_verification"),
        said("flow", "check_postal_code: verified"),
    ]
    pop = screen_pop(
        {**REPAIR_LATE, "eta_due": "", "eta_late": "2025-12-01"}, "not_understood", transcript, TODAY
    )
    assert pop.verified == "Verified by postal code"
    assert pop.facts[0] == "Order 4512, shipped with UPS on 23 Nov, 371 days late (due 1 Dec 2025)"
    assert pop.wants.startswith("The automated line did not understand them")


def test_a_stranger_is_not_verified_and_has_no_name() -> None:
    pop = screen_pop(
        {"ticket_number": "2718", "repair_status": "ready_for_pickup"}, "caller_asked", [], TODAY
    )
    assert (pop.who, pop.verified) == ("Name not known", "Not verified")
    assert pop.facts == ["Repair 2718, ready for pickup"] and pop.told == "" and pop.said == ""
