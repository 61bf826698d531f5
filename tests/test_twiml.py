"""TwiML rendering: pure data in, XML out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.flow.steps import Hangup, Say, Transfer
from ivr.handoff import DialHandOff, EnqueueHandOff
from ivr.step_twiml import Voice, render
from ivr.twiml_builder import Response


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


# --- the renderer against twilio's own builder, and against hostile text -------------------------


def _tree(xml: str) -> tuple[object, ...]:
    """A parsed document as nested tuples (tag, attributes, text, children), to compare two renderings."""

    def walk(element: ET.Element) -> tuple[object, ...]:
        return (element.tag, element.attrib, element.text or "", [walk(child) for child in element])

    return walk(ET.fromstring(xml))


def test_every_verb_we_use_renders_as_twilios_builder_renders_it() -> None:
    from twilio.twiml.voice_response import VoiceResponse

    ours, theirs = Response(), VoiceResponse()
    ours.add("Say", "Hello & welcome", language="en-GB", voice="Polly.Amy")
    theirs.say("Hello & welcome", language="en-GB", voice="Polly.Amy")
    gather = ours.add(
        "Gather",
        input="dtmf speech",
        action="https://x.test/voice/turn?seq=1",
        method="POST",
        timeout=6,
        actionOnEmptyResult=False,
        speechTimeout="auto",
        finishOnKey="",
        numDigits=1,
        hints="order, repair",
    )
    gather.add("Play", "https://x.test/audio/a.wav", loop=6)
    twilio_gather = theirs.gather(
        input="dtmf speech",
        action="https://x.test/voice/turn?seq=1",
        method="POST",
        timeout=6,
        action_on_empty_result=False,
        speech_timeout="auto",
        finish_on_key="",
        num_digits=1,
        hints="order, repair",
    )
    twilio_gather.play("https://x.test/audio/a.wav", loop=6)
    ours.add("Redirect", "https://x.test/voice/turn?seq=1&silence=1", method="POST")
    theirs.redirect("https://x.test/voice/turn?seq=1&silence=1", method="POST")
    ours.add("Dial", action="https://x.test/a", timeout=25, callerId="+15550001111").add(
        "Number", "+15551230000"
    )
    theirs.dial(action="https://x.test/a", timeout=25, caller_id="+15550001111").number("+15551230000")
    ours.add("Enqueue", "support", waitUrl="https://x.test/w", waitUrlMethod="POST")
    theirs.enqueue("support", wait_url="https://x.test/w", wait_url_method="POST")
    ours.add("Record", maxLength=120, playBeep=True, recordingStatusCallbackEvent="completed")
    theirs.record(max_length=120, play_beep=True, recording_status_callback_event="completed")
    ours.add("Dial").add("Conference", "room", startConferenceOnEnter=True, beep=False)
    theirs.dial().conference("room", start_conference_on_enter=True, beep=False)
    stream = ours.add("Connect", action="https://x.test/e").add("Stream", url="wss://x.test/media")
    stream.add("Parameter", name="token", value="abc")
    theirs.connect(action="https://x.test/e").stream(url="wss://x.test/media").parameter(
        name="token", value="abc"
    )
    ours.add("Leave")
    theirs.leave()
    ours.add("Hangup")
    theirs.hangup()

    assert str(ours).startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
    assert _tree(str(ours)) == _tree(str(theirs))


HOSTILE = (
    'Tom & Jerry\'s <b>"quotes"</b> ]]> \x00\x01\x08\x0b\x0c\x1b\x7f \ufffe\uffff \ud800 tab\tnew\nline\r!'
)
HOSTILE_KEPT = 'Tom & Jerry\'s <b>"quotes"</b> ]]> \x7f   tab\tnew\nline\n!'
"""What survives: everything XML 1.0 allows (a parser reads a CR as a line feed in content)."""


def test_hostile_text_and_attributes_make_well_formed_twiml_that_reads_back() -> None:
    response = Response()
    response.add("Say", HOSTILE, voice=HOSTILE)
    gather = response.add("Gather", action="https://x.test/t?a=1&b=\"2\"&c='3'<>")
    gather.add("Say", HOSTILE)

    root = ET.fromstring(str(response))  # raises on ill-formed XML
    say = root.find("Say")
    assert say is not None
    assert say.text == HOSTILE_KEPT
    # In attributes, line breaks and tabs are escaped, so they read back exactly.
    assert say.get("voice") == HOSTILE_KEPT.replace("line\n!", "line\r!")
    assert root.find("Gather").get("action") == "https://x.test/t?a=1&b=\"2\"&c='3'<>"  # type: ignore[union-attr]


def test_prompt_text_with_markup_is_spoken_not_parsed() -> None:
    xml = render(
        [Say("Press <1> & hold"), Hangup()],
        turn_url="https://x.test/voice/turn?seq=3",
        voice=Voice(voice="Polly.Joanna"),
        handoff=EnqueueHandOff(),
    )
    root = ET.fromstring(xml)
    assert [(el.tag, el.text) for el in root] == [("Say", "Press <1> & hold"), ("Hangup", None)]
    assert root.find("Say").get("voice") == "Polly.Joanna"  # type: ignore[union-attr]


def test_an_empty_voice_is_left_out() -> None:
    xml = render([Say("Hi")], turn_url="https://x.test/t?seq=1", voice=Voice(), handoff=EnqueueHandOff())
    say = ET.fromstring(xml).find("Say")
    assert say is not None and say.attrib == {"language": "en-US"}
