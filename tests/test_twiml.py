"""TwiML rendering: pure data in, XML out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.flow.steps import Transfer
from ivr.handoff import DialHandOff, EnqueueHandOff
from ivr.twiml import Voice, render


@pytest.mark.parametrize(
    ("target", "noun", "text"),
    [
        ("+15551230000", "Number", "+15551230000"),
        ("sip:agents@pbx.example.com", "Sip", "sip:agents@pbx.example.com"),
        ("client:desk1", "Client", "desk1"),
    ],
)
def test_dial_hand_off_uses_the_right_noun_for_each_kind_of_target(target: str, noun: str, text: str) -> None:
    xml = render(
        [Transfer("caller_asked")],
        turn_url="https://x.test/voice/turn?seq=3",
        voice=Voice(),
        handoff=DialHandOff(target),
    )
    dial = ET.fromstring(xml).find("Dial")
    assert dial is not None
    assert dial.get("action") == "https://x.test/voice/turn?seq=3&transfer=1"
    assert dial.findtext(noun) == text


def test_enqueue_hand_off_reports_back_to_the_turn_url() -> None:
    xml = render(
        [Transfer("caller_asked")],
        turn_url="https://x.test/voice/turn?seq=3",
        voice=Voice(),
        handoff=EnqueueHandOff("support"),
    )
    enqueue = ET.fromstring(xml).find("Enqueue")
    assert enqueue is not None and enqueue.text == "support"
    assert enqueue.get("action") == "https://x.test/voice/turn?seq=3&transfer=1"
