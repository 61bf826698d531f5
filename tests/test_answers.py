"""A turn's answer record: small, and rendered again into exactly the TwiML first sent."""

from __future__ import annotations

import pytest

from ivr import answers
from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.handoff import DialHandOff
from ivr.step_twiml import Audio, Renderable, Voice, render

STEPS: list[Renderable] = [
    Say("Willkommen bei Acme.", False, "de"),
    Audio("https://ivr.example.com/audio/ab12.wav", "Your order has shipped.", True),
    Say("Press 1 & say yes <now>.", True, ""),
    Gather(False, 5, 1, "", True, ("yes", "order status"), "en", phrases=("where is my order",)),
    Hangup(),
]


def _twiml(steps: list[Renderable] | tuple[Renderable, ...]) -> str:
    return render(
        steps,
        turn_url="https://ivr.example.com/voice/turn?seq=3&language=de",
        voice=Voice(),
        handoff=DialHandOff("+15550001111"),
        voices={"de": Voice("de-DE")},
    )


def test_an_answer_is_rendered_again_exactly_from_its_record() -> None:
    record = answers.of_steps(STEPS, 3, "de")
    answer = answers.read(record)
    assert (answer.seq, answer.language) == (3, "de")
    assert _twiml(answer.steps) == _twiml(STEPS)
    # the record keeps the hints Twilio was sent, not the grammar only local speech needs
    assert "where is my order" not in record and len(record) < len(_twiml(STEPS))


def test_a_hand_off_is_kept_as_sent_and_a_stream_as_its_language() -> None:
    steps: list[Renderable] = [Say("Please hold."), Transfer("caller_asked")]
    assert not answers.rebuildable(steps)
    with pytest.raises(ValueError, match="TwiML"):
        answers.of_steps(steps, 1, "")
    assert answers.read(answers.of_twiml("<Response/>")).twiml == "<Response/>"
    stream = answers.read(answers.of_stream("sv"))
    assert stream.stream and stream.language == "sv"
