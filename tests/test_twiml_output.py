"""What Twilio is told to do, read back from the XML: elements, their order and attributes.

Only the output is checked (parsed TwiML), never how it is built, so the renderer can be
rewritten for speed and these tests still say whether callers get the same call.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.handoff import DialHandOff
from ivr.line import stream_url
from ivr.step_twiml import Audio, Renderable, Voice, render, render_fallback, render_goodbye, render_stream

TURN = "https://x.test/voice/turn?seq=4"
VOICE = Voice(language="en-GB", voice="Polly.Amy")
HANDOFF = DialHandOff("+15551230000")
MENU = Gather(digits=False, timeout=6, max_digits=1, finish_on_key="", speech=True, hints=("order", "repair"))
NUMBER = Gather(digits=True, timeout=8, max_digits=10, finish_on_key="#", speech=True)


def twiml(*steps: Renderable) -> ET.Element:
    root = ET.fromstring(render(list(steps), turn_url=TURN, voice=VOICE, handoff=HANDOFF))
    assert root.tag == "Response"
    return root


def shape(element: ET.Element) -> list[str]:
    """The verbs in order, nested ones as 'Gather/Say'."""
    out: list[str] = []
    for child in element:
        out.append(child.tag)
        out.extend(f"{child.tag}/{grandchild.tag}" for grandchild in child)
    return out


def test_a_question_can_be_answered_while_it_is_still_being_asked() -> None:
    root = twiml(Say("Welcome."), Say("Press 1 for orders."), MENU)
    assert shape(root) == ["Gather", "Gather/Say", "Gather/Say", "Redirect"]
    assert [say.text for say in root.iter("Say")] == ["Welcome.", "Press 1 for orders."]


def test_a_notice_that_must_be_heard_whole_comes_before_the_question() -> None:
    root = twiml(Say("Calls are recorded.", interruptible=False), Say("Press 1 for orders."), MENU)
    assert shape(root) == ["Say", "Gather", "Gather/Say", "Redirect"]
    assert root.findtext("Say") == "Calls are recorded."


def test_a_menu_listens_for_one_key_or_speech_and_silence_is_reported() -> None:
    root = twiml(Say("Press 1 for orders."), MENU)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "input": "dtmf speech",
        "action": TURN,
        "method": "POST",
        "timeout": "6",
        "actionOnEmptyResult": "false",
        "language": "en-GB",
        "speechTimeout": "auto",
        "numDigits": "1",
        "finishOnKey": "",  # '#' may be a menu option: it must not end the input
        "hints": "order, repair",
    }
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == f"{TURN}&silence=1"
    assert redirect.get("method") == "POST"


def test_a_number_ends_with_the_finish_key_and_may_be_spoken() -> None:
    gather = twiml(Say("Key in your order number."), NUMBER).find("Gather")
    assert gather is not None
    assert gather.get("finishOnKey") == "#" and gather.get("numDigits") == "10"
    assert gather.get("speechModel") == "numbers_and_commands"
    assert gather.get("input") == "dtmf speech"


def test_keys_only_means_no_speech_settings() -> None:
    keys_only = Gather(digits=True, timeout=5, max_digits=4, finish_on_key="#", speech=False)
    gather = twiml(Say("Key in your postal code."), keys_only).find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf"
    assert not {"language", "speechTimeout", "speechModel", "hints"} & set(gather.attrib)


def test_prompts_speak_in_the_lines_voice_or_play_local_audio() -> None:
    root = twiml(Say("Hello."), Audio("https://x.test/audio/abc.wav", "Goodbye."), Hangup())
    assert shape(root) == ["Say", "Play", "Hangup"]
    say = root.find("Say")
    assert say is not None and say.attrib == {"language": "en-GB", "voice": "Polly.Amy"}
    assert root.findtext("Play") == "https://x.test/audio/abc.wav"


def test_a_hand_off_speaks_first_then_dials_and_reports_back() -> None:
    root = twiml(Say("Please hold.", interruptible=False), Transfer("caller_asked"))
    assert shape(root) == ["Say", "Dial", "Dial/Number"]
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") == f"{TURN}&transfer=1"
    assert root.findtext("Dial/Number") == "+15551230000"


def test_a_stream_hand_over_names_the_websocket_and_carries_the_token_as_a_parameter() -> None:
    root = ET.fromstring(
        render_stream(
            stream_url("https://support.example.test"),
            "https://support.example.test/voice/stream-ended",
            {"token": "t0k3n"},
        )
    )
    assert shape(root) == ["Connect", "Connect/Stream"]
    connect = root.find("Connect")
    assert connect is not None
    assert connect.attrib == {"action": "https://support.example.test/voice/stream-ended", "method": "POST"}
    stream = root.find("Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://support.example.test/media"
    parameter = root.find("Connect/Stream/Parameter")
    assert parameter is not None and parameter.attrib == {"name": "token", "value": "t0k3n"}


def test_stream_urls_follow_the_public_urls_scheme() -> None:
    assert stream_url("https://line.example.test") == "wss://line.example.test/media"
    assert stream_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/media"
    assert (
        stream_url("https://line.example.test/ivr", "/media?x=1") == "wss://line.example.test/ivr/media?x=1"
    )


def test_the_fallback_apologises_and_reaches_a_person() -> None:
    root = ET.fromstring(
        render_fallback(
            "Sorry.", voice=VOICE, handoff=HANDOFF, after_url="https://x.test/voice/after-transfer"
        )
    )
    assert shape(root) == ["Say", "Dial", "Dial/Number"]
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") == "https://x.test/voice/after-transfer"


def test_goodbye_with_or_without_words_hangs_up() -> None:
    assert shape(ET.fromstring(render_goodbye("Goodbye.", voice=VOICE))) == ["Say", "Hangup"]
    assert shape(ET.fromstring(render_goodbye(None, voice=VOICE))) == ["Hangup"]
