"""Whole calls through the real server: every menu branch, as a caller hears them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.testing.caller import STRANGER_PHONE, Caller
from ivr.testing.demo_line import load_demo_data
from ivr.web.app import create_app
from ivr.web.keys import STORES


async def test_greeting_offers_a_short_menu_and_listens_for_keys_and_speech(client: TestClient) -> None:
    turn = await Caller(client, phone=STRANGER_PHONE).dial()
    assert turn.heard[0] == "Thanks for calling Acme after-sales support."
    assert turn.heard[1].startswith("Tell me what you need, or press 1 for orders")
    assert len(turn.heard[1].split()) <= 25
    assert "or 0 for an agent." in turn.text
    gather = turn.gather
    assert gather is not None
    assert gather.get("input") == "dtmf speech"
    assert gather.get("numDigits") == "1"
    assert gather.get("finishOnKey") == ""  # '#' can be a menu key, not an end-of-input key
    hints = gather.get("hints", "")
    # menu words and each intent's first words: a few dozen, not every phrase of every intent
    assert "order status" in hints and "where is my order" in hints and "refund" not in hints
    assert len(hints.split(", ")) <= 60 and len(hints) < 800
    # The menu is inside the Gather, so a caller can press a key without waiting.
    assert len(gather.findall("Say")) == 2


async def test_a_caller_on_file_is_offered_their_latest_open_order_by_name(caller: Caller) -> None:
    turn = await caller.dial()
    assert turn.heard[1:] == [
        "Hi Jane.",
        "Are you calling about order 4 5 1 2, which has shipped?",
        "Press 1 or say yes. For another order, press 2.",
    ]
    status = await caller.say("yes please")
    assert status.heard[0] == (
        "Order 4 5 1 2 has shipped with UPS and should arrive on December 4."
        " The tracking number ends in 6 7 8 4."
    )


async def test_a_stranger_is_never_offered_an_order(client: TestClient) -> None:
    turn = await Caller(client, phone=STRANGER_PHONE).dial()
    assert "Are you calling about" not in turn.text and "Hi " not in turn.text


async def test_order_status_for_a_caller_whose_number_is_on_file(caller: Caller) -> None:
    await caller.dial_to_menu()
    ask = await caller.press("1")
    assert "key in your order number, then press pound" in ask.text
    assert ask.gather is not None and ask.gather.get("finishOnKey") == "#"
    turn = await caller.press("4512")
    assert turn.heard[:2] == [
        "Thanks, Jane Doe.",
        "Order 4 5 1 2 has shipped with UPS and should arrive on December 4."
        " The tracking number ends in 6 7 8 4.",
    ]
    assert "star to repeat" in turn.text
    again = await caller.press("*")
    assert "has shipped with UPS" in again.text
    end = await caller.press("9")
    assert end.heard == ["Thanks for calling Acme. Goodbye."]
    assert end.hung_up


async def test_a_stranger_must_key_the_postal_code_before_hearing_anything(client: TestClient) -> None:
    caller = Caller(client, phone=STRANGER_PHONE)
    await caller.dial_to_menu()
    await caller.press("1")
    turn = await caller.press("7788")
    assert "key in the postal code on the order" in turn.text
    assert "Sam" not in turn.text and "processing" not in turn.text
    wrong = await caller.press("99999")
    assert wrong.heard == [
        "That order number and postal code don't match our records.",
        "Please key in your order number, then press pound.",
    ]
    await caller.press("7788")
    right = await caller.press("10001")
    assert right.heard[:2] == [
        "Thanks, Sam Lee.",
        "Order 7 7 8 8 is being prepared for shipping and should ship on Thursday.",
    ]


async def test_a_stranger_hears_the_same_for_an_order_that_exists_and_one_that_does_not(
    client: TestClient,
) -> None:
    heard: dict[str, list[list[str]]] = {}
    for order in ("7788", "7789"):
        caller = Caller(client, phone=STRANGER_PHONE)
        await caller.dial_to_menu()
        await caller.press("1")
        asked = await caller.press(order)
        wrong = await caller.press("99999")
        heard[order] = [asked.heard, wrong.heard]
    assert heard["7788"] == heard["7789"]
    assert heard["7789"][1][0] == "That order number and postal code don't match our records."


async def test_a_caller_on_file_mistyping_an_order_number_is_asked_for_a_postal_code(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    turn = await caller.press("1234")
    assert "key in the postal code on the order" in turn.text
    miss = await caller.press("94107")  # the caller's own postal code: not order 1234's
    assert miss.heard[0] == "That order number and postal code don't match our records."


async def test_three_mismatches_offer_an_agent_and_reveal_nothing(client: TestClient) -> None:
    caller = Caller(client, phone=STRANGER_PHONE)
    await caller.dial_to_menu()
    await caller.press("1")
    heard = []
    for code in ("11111", "22222", "33333"):
        await caller.press("7788")
        heard.append((await caller.press(code)).text)
    assert "To speak with an agent, press 1." in heard[-1]
    assert not any("Sam" in text or "prepared" in text for text in heard)
    handoff = await caller.press("1")
    assert handoff.handoff is not None


async def test_postal_code_guessing_stops_after_five_tries_even_in_a_new_call(client: TestClient) -> None:
    first = Caller(client, phone=STRANGER_PHONE)
    await first.dial_to_menu()
    await first.press("1")
    for code in ("11111", "22222", "33333"):
        await first.press("7788")
        await first.press(code)
    await first.hang_up()
    second = Caller(client, phone=STRANGER_PHONE)  # calling again does not start the count afresh
    await second.dial_to_menu()
    await second.press("1")
    await second.press("7788")
    await second.press("44444")
    await second.press("7788")
    fifth = await second.press("55555")
    limit = (
        "I'm sorry, I can't verify this order by phone today. An agent can help you with it: to speak"
        " with an agent, press 1. To go back to the main menu, press 2."
    )
    assert fifth.heard == [limit]  # told at once, never "doesn't match" again
    assert (await second.press("2")).gather is not None  # back at the main menu
    await second.press("1")
    await second.press("7788")
    right = await second.press("10001")  # the right code, after five wrong ones today
    assert "Sam" not in right.text and "prepared" not in right.text
    assert right.heard == [limit]
    assert "match" not in right.text
    agent = await second.press("1")
    assert agent.heard == ["Please hold while I connect you with an agent."]
    assert agent.handoff is not None
    third = Caller(client, phone=STRANGER_PHONE)  # a new call today: still no codes checked
    await third.dial()
    await third.press("1")
    await third.press("7788")
    assert (await third.press("10001")).heard == [limit]


async def test_one_call_looks_up_at_most_five_numbers(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    for _ in range(4):
        found = await caller.press("4512")
        assert "has shipped with UPS" in found.text
        await caller.press("2")  # check another order
    await caller.press("4513")
    await caller.press("2")
    sixth = await caller.press("4512")
    assert sixth.heard == [
        "I'm sorry, I can't look up any more numbers on this call.",
        "Please hold while I connect you with an agent.",
    ]
    assert sixth.handoff is not None


async def test_a_stranger_looks_up_at_most_twenty_numbers_a_day_over_all_calls(client: TestClient) -> None:
    for _ in range(4):
        stranger = Caller(client, phone=STRANGER_PHONE)
        await stranger.dial_to_menu()
        for _ in range(5):
            await stranger.press("2")  # repair status
            found = await stranger.press("2718")
            assert "ready for pickup" in found.text
            await stranger.press("1")  # back to the main menu
        await stranger.hang_up()
    again = Caller(client, phone=STRANGER_PHONE)
    await again.dial_to_menu()
    await again.press("2")
    turn = await again.press("2718")
    assert turn.heard[0] == "I'm sorry, I can't look up any more numbers on this call."
    owner = Caller(client, phone="+15550100002")  # the limit is this number's, not everyone's
    await owner.dial_to_menu()
    await owner.press("2")
    assert "ready for pickup" in (await owner.press("2718")).text


async def test_a_caller_checking_their_own_orders_is_not_limited_by_the_day(client: TestClient) -> None:
    for _ in range(5):
        caller = Caller(client)
        await caller.dial_to_menu()
        await caller.press("1")
        for _ in range(5):
            assert "has shipped with UPS" in (await caller.press("4512")).text
            await caller.press("2")  # check another order
        await caller.hang_up()


async def test_repair_status_by_keypad(caller: Caller) -> None:
    await caller.dial_to_menu()
    ask = await caller.press("2")
    assert "repair ticket number" in ask.text
    turn = await caller.press("3141")
    assert turn.heard[0] == (
        "Repair 3 1 4 1 for your espresso machine is waiting for parts; we expect to finish it on December 2."
    )
    assert "press 1 for the main menu" in turn.text


async def test_repair_status_without_a_date_leaves_the_date_out(client: TestClient) -> None:
    owner = Caller(client, phone="+15550100003")
    await owner.dial_to_menu()
    await owner.press("2")
    turn = await owner.press("1618")
    assert turn.heard[0] == "Repair 1 6 1 8 for your dishwasher is being diagnosed by a technician."


async def test_a_stranger_hears_a_repair_status_but_not_what_the_product_is(client: TestClient) -> None:
    stranger = Caller(client, phone=STRANGER_PHONE)
    await stranger.dial_to_menu()
    await stranger.press("2")
    turn = await stranger.press("2718")
    assert turn.heard[0] == (
        "Good news: repair 2 7 1 8 is ready for pickup until Sunday, December 6."
        " Please bring your ticket number."
    )


async def test_warranty_active_and_expired(client: TestClient) -> None:
    active = Caller(client, phone="+15550100002")  # placed order 7788, which came with 100200301
    await active.dial_to_menu()
    await active.press("3")
    turn = await active.press("100200301")
    assert turn.heard[0] == (
        "Serial number 1 0 0 2 0 0 3 0 1, your robot vacuum, is covered by our extended warranty"
        " until Wednesday, March 1, 2028."
    )
    expired = Caller(client, phone="+15550100003")
    await expired.dial_to_menu()
    await expired.press("3")
    turn = await expired.press("100200302")
    assert turn.heard[0].startswith(
        "The warranty on serial number 1 0 0 2 0 0 3 0 2, your dishwasher, ended on Monday, June 10, 2024."
    )


async def test_a_stranger_hears_a_warranty_but_not_what_the_product_is(client: TestClient) -> None:
    stranger = Caller(client, phone=STRANGER_PHONE)
    await stranger.dial_to_menu()
    await stranger.press("3")
    turn = await stranger.press("100200301")
    assert turn.heard[0] == (
        "Serial number 1 0 0 2 0 0 3 0 1 is covered by our extended warranty until Wednesday, March 1, 2028."
    )


async def test_unknown_serial_number(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("3")
    turn = await caller.press("42424242")
    assert turn.heard[0] == "I couldn't find serial number 4 2 4 2 4 2 4 2."


async def test_common_questions_are_answered_from_the_prompt_files(caller: Caller) -> None:
    await caller.dial_to_menu()
    menu = await caller.press("4")
    assert "press 1 for returns" in menu.text
    answers = {}
    for key, topic in (
        ("1", "returns"),
        ("2", "warranty"),
        ("3", "installation"),
        ("4", "plans"),
        ("5", "hours"),
    ):
        turn = await caller.press(key)
        answers[topic] = turn.heard[0]
        await caller.press("1")  # the main menu
        await caller.press("4")  # other questions
    assert answers["returns"].startswith("You can return or exchange any product within 30 days")
    assert "2 years from purchase" in answers["warranty"]
    assert "Installation guides" in answers["installation"]
    assert (
        "An agent can add a plan" in answers["plans"] and "$" not in answers["plans"]
    )  # no IVR_MARKETS: no prices
    assert (
        answers["hours"] == "This automated line is open around the clock."
    )  # no IVR_HOURS: no agent hours to tell


async def test_speech_chooses_menu_options(caller: Caller) -> None:
    await caller.dial_to_menu()
    turn = await caller.say("where is my order")
    assert "key in your order number" in turn.text
    spoken = await caller.say("my order number is 4 5 1 2")
    assert "has shipped with UPS" in spoken.text


async def test_speech_near_miss_is_understood(caller: Caller) -> None:
    await caller.dial_to_menu()
    turn = await caller.say("warrenty")
    assert "serial number" in turn.text


async def test_zero_reaches_an_agent_from_any_menu(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("4")
    turn = await caller.press("0")
    assert turn.heard == ["Please hold while I connect you with an agent."]
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    assert turn.handoff.text == "support"


async def test_saying_agent_reaches_an_agent(caller: Caller) -> None:
    await caller.dial_to_menu()
    turn = await caller.say("can I talk to a real person please")
    assert turn.handoff is not None


async def test_nobody_answering_the_transfer_is_not_a_dead_end(client: TestClient, caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("0")
    turn = await caller.transfer_ends("leave")
    assert turn.heard == [
        "I'm sorry, nobody can take your call right now. To have an agent call you back at the number"
        " you are calling from, press 1. If that's all, press 9."
    ]
    assert not turn.hung_up and turn.gather is not None
    done = await caller.press("1")
    assert done.heard == [
        "Thank you. An agent will call you back at the number you are calling from as soon as they can."
        " Goodbye."
    ]
    assert done.hung_up
    await caller.hang_up()
    record = await client.app[STORES].calls.get_call(caller.call_sid)
    assert record is not None and record.outcome == "callback_requested"
    assert record.caller == caller.phone  # the number to call back (masked only when shown)
    assert any(entry.text == "transfer: caller_asked" for entry in record.transcript)  # and why


async def test_an_answered_transfer_ends_the_call_quietly(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("0")
    turn = await caller.transfer_ends("bridged")
    assert turn.heard == [] and turn.hung_up


async def test_silence_at_the_main_menu_offers_an_agent_before_any_goodbye(caller: Caller) -> None:
    await caller.dial_to_menu()
    first = await caller.silence()
    assert first.heard[0] == "Sorry, I didn't hear anything."
    assert first.heard[1].startswith("Tell me what you need, or press 1 for orders")
    second = await caller.silence()
    assert second.heard[0] == "Sorry, I didn't hear anything."
    assert second.heard[1].startswith("You can say things like")  # the second miss says what works
    offer = await caller.silence()
    assert "To speak with an agent, press 1." in offer.text
    assert not offer.hung_up
    await caller.silence()
    await caller.silence()
    last = await caller.silence()
    assert last.handoff is not None


async def test_repeated_nonsense_hands_off_to_an_agent(caller: Caller) -> None:
    await caller.dial_to_menu()
    first = await caller.press("7")
    assert first.heard[0] == "7 isn't an option."
    await caller.say("banana")
    last = await caller.press("8")
    assert last.heard[-1] == "Let me connect you with an agent who can help. Please hold."
    assert last.handoff is not None


async def test_mumbling_then_silence_is_handed_to_an_agent_not_hung_up_on(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.say("banana")
    await caller.say("banana")
    last = await caller.silence()
    assert last.heard == ["Let me connect you with an agent who can help. Please hold."]
    assert last.handoff is not None


async def test_a_second_order_gets_fresh_tries(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    for wrong in ("1111", "2222"):
        await caller.press(wrong)
        await caller.press("94107")  # two mismatches: one more would offer an agent
    found = await caller.press("4512")
    assert "has shipped with UPS" in found.text
    await caller.press("2")  # check another order
    await caller.press("3333")
    miss = await caller.press("94107")
    assert miss.heard == [
        "That order number and postal code don't match our records.",
        "Please key in your order number, then press pound.",
    ]


async def test_too_short_an_order_number_is_asked_again(caller: Caller) -> None:
    await caller.dial_to_menu()
    await caller.press("1")
    turn = await caller.press("12")
    assert turn.heard[0] == "That number is too short. It should have 3 to 12 digits."
    assert "key in your order number" in turn.text


async def test_digits_that_are_not_keypad_keys_are_no_order_number(caller: Caller) -> None:
    """`str.isdigit` took Arabic-Indic and full-width digits as an order number."""
    await caller.dial_to_menu()
    await caller.press("1")
    first = await caller.press("٤٥١٢")
    assert first.heard == [
        "Sorry, I didn't catch that.",
        "Please key in your order number, then press pound.",
    ]
    second = await caller.press("４５１２")  # the second miss says where the number is
    assert second.heard[0] == "Sorry, I didn't catch that."
    assert second.heard[1].startswith("Your order number is on your confirmation email.")


ASK_ORDER_NUMBER = "Please key in your order number, then press pound."


async def test_a_postal_code_that_is_not_keypad_keys_is_a_no_match_not_an_apology(client: TestClient) -> None:
    """Arabic-Indic digits as a postal code raised TypeError in the check, and the caller
    was handed to an agent with an apology instead of being asked again."""
    caller = Caller(client, phone=STRANGER_PHONE)
    await caller.dial_to_menu()
    await caller.press("1")
    await caller.press("7788")
    turn = await caller.press("١٠٠٠١")
    assert turn.heard[0] == "Sorry, I didn't catch that."
    assert "key in the postal code on the order" in turn.text
    assert turn.handoff is None


async def test_spoken_text_is_cut_to_its_first_500_characters(caller: Caller) -> None:
    """A recogniser (or a forged request) may send pages: only the start is matched and kept."""
    await caller.dial_to_menu()
    turn = await caller.say("order " + "la " * 2000 + "agent")  # 'agent' would win if read
    assert "key in your order number" in turn.text
    assert turn.handoff is None


async def test_a_late_order_is_said_to_be_late_with_an_agent_offered(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    """A week after the demo day, order 4512 (due December 4) has not arrived: the caller
    hears that it is late, not a past date as if it were ahead, and 0 reaches a person."""
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: date(2026, 12, 7)))
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("1")
    turn = await caller.press("4512")
    assert turn.heard[1] == (
        "Order 4 5 1 2 has shipped with UPS. It is running late: it was due on December 4."
        " The tracking number ends in 6 7 8 4. To speak with an agent about it, press 0."
    )
    agent = await caller.press("0")
    assert agent.handoff is not None and agent.handoff.tag == "Enqueue"
