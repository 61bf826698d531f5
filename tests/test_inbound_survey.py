"""The survey after inbound calls (IVR_INBOUND_SURVEY=on), over real HTTP with signed webhooks:
a call the line resolved ends with one question, the score is kept with the call and is the
insights' satisfaction; a non-score is asked once more; with the setting off nothing is asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.testing.caller import STRANGER_PHONE, Caller, Turn
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import LINE, STORES
from tests.insight_calls import stats

QUESTION = "How happy are you with this call, from 1 to 5?"
GOODBYE = "Thanks for calling Acme. Goodbye."


async def line(aiohttp_client: Callable, tmp_path: Path, **env: str) -> TestClient:
    settings = make_settings(tmp_path, **env)
    await load_demo_data(settings)
    return await aiohttp_client(create_app(settings, today=lambda: TODAY))


async def resolved_until_the_end(caller: Caller, *, keys: tuple[str, ...] = ("4", "5")) -> Turn:
    """A caller with nothing on file hears the opening hours (questions, then hours) and declines
    everything after ("press 9" / "press 2"): the line resolved the call alone."""
    await caller.dial()
    turn = await caller.press(keys[0])
    turn = await caller.press(keys[1])
    for _ in range(4):
        if turn.hung_up or turn.gather is None or "1 bis 5" in turn.text or "1 to 5" in turn.text:
            return turn
        turn = await caller.press("2" if "press 2" in turn.text or "die 2" in turn.text else "9")
    return turn


async def transcript(client: TestClient, caller: Caller) -> list[str]:
    session = await client.app[LINE].sessions.load(caller.call_sid)
    assert session is not None
    return [f"{entry.who}: {entry.text}" for entry in session.transcript]


async def answers(client: TestClient) -> list[tuple[str, str | None, int]]:
    rows = await client.app[STORES].sql.fetch("SELECT call_sid, campaign, score FROM survey_answers")
    return [(r["call_sid"], r["campaign"], int(r["score"])) for r in rows]


async def test_a_resolved_call_ends_with_the_question_and_its_score_is_the_satisfaction(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, IVR_INBOUND_SURVEY="on")
    keyed, spoken = Caller(client, STRANGER_PHONE), Caller(client, STRANGER_PHONE)

    asked = await resolved_until_the_end(keyed)
    assert QUESTION in asked.text and not asked.hung_up, "asked before the goodbye"
    assert GOODBYE not in asked.text
    assert asked.gather is not None and asked.gather.get("input") == "dtmf speech"
    done = await keyed.press("4")
    assert done.hung_up and done.heard == ["Thank you for your answer.", GOODBYE]
    await keyed.hang_up()
    assert (await transcript(client, keyed))[-6:] == [
        "caller: pressed 9",
        "bot: Before you go, please stay on for one question. "
        + QUESTION
        + " You can press or say a number.",
        "caller: pressed 4",
        "flow: survey: 4",
        "bot: Thank you for your answer.",
        "bot: " + GOODBYE,
    ]

    # Said, not keyed; and the caller hangs up at once: the score is kept all the same.
    await resolved_until_the_end(spoken)
    await spoken.say("five")
    await spoken.hang_up()

    assert sorted(await answers(client)) == sorted([(keyed.call_sid, None, 4), (spoken.call_sid, None, 5)])
    for caller in (keyed, spoken):
        session = await client.app[LINE].sessions.load(caller.call_sid)
        assert session is not None and session.outcome == "resolved", "the question changes no outcome"
    satisfaction = stats(tmp_path)["satisfaction"]
    assert satisfaction["answers"] == 2 and satisfaction["average"] == 4.5
    assert satisfaction["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}


async def test_an_answer_that_is_not_a_score_is_asked_once_more_then_the_call_ends(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path, IVR_INBOUND_SURVEY="on")
    caller = Caller(client, STRANGER_PHONE)
    await resolved_until_the_end(caller)

    again = await caller.say("it was fine I guess")
    assert not again.hung_up
    assert again.heard[0] == "Sorry, please answer with a number from 1 to 5." and QUESTION in again.text
    ended = await caller.press("7")
    assert ended.hung_up and ended.heard == [GOODBYE]
    await caller.hang_up()
    assert await answers(client) == []
    assert (await transcript(client, caller))[-3:] == [
        "caller: pressed 7",
        "flow: survey: no score",
        "bot: " + GOODBYE,
    ]


async def test_the_question_is_in_the_callers_language(aiohttp_client: Callable, tmp_path: Path) -> None:
    client = await line(
        aiohttp_client,
        tmp_path,
        IVR_INBOUND_SURVEY="on",
        IVR_LANGUAGES="en,de",
        IVR_NUMBER_LANGUAGES="+15550009999=de",  # the number ivr.testing.caller calls
    )
    caller = Caller(client, STRANGER_PHONE)
    asked = await resolved_until_the_end(caller)
    assert "Wie zufrieden sind Sie mit diesem Anruf, von 1 bis 5?" in asked.text
    assert {say.get("language") for say in asked.root.iter("Say")} == {"de-DE"}
    assert asked.gather is not None and asked.gather.get("language") == "de-DE"
    done = await caller.say("vier")
    assert done.hung_up and done.heard[0] == "Vielen Dank für Ihre Antwort."
    assert [score for _, _, score in await answers(client)] == [4]


async def test_with_the_survey_off_a_resolved_call_just_says_goodbye(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    client = await line(aiohttp_client, tmp_path)
    caller = Caller(client, STRANGER_PHONE)
    ended = await resolved_until_the_end(caller)
    assert ended.hung_up and ended.heard[-1] == GOODBYE and "1 to 5" not in ended.text
    await caller.hang_up()
    assert await answers(client) == []
    assert stats(tmp_path)["satisfaction"] is None


async def test_a_negative_number_said_is_not_a_score(aiohttp_client: Callable, tmp_path: Path) -> None:
    """Twilio transcribes "minus one" as "-1"; its digits alone read as a score of 1."""
    client = await line(aiohttp_client, tmp_path, IVR_INBOUND_SURVEY="on")
    caller = Caller(client, STRANGER_PHONE)
    await resolved_until_the_end(caller)
    again = await caller.say("-1")
    assert again.heard[0] == "Sorry, please answer with a number from 1 to 5."
    ended = await caller.say("minus five")
    assert ended.hung_up and ended.heard == [GOODBYE]
    await caller.hang_up()
    assert await answers(client) == []
