"""TwiML for the queue, the agent's whisper, conferences and voicemail. Pure: data in, XML out.

Every answer keeps the caller hearing something: the wait TwiML ends in music (Twilio asks
the wait URL again when it finishes), choices fall back to the queue, and every ending says
goodbye before hanging up.
"""

from __future__ import annotations

from ivr.agents.caller_words import ENGLISH, CallerWords
from ivr.agents.model import WaitInfo
from ivr.agents.urls import Urls
from ivr.step_twiml import Voice, add_say
from ivr.twiml_builder import Element, Response

MUSIC_LOOPS = 6
"""Hold music plays this many times per announcement: about a minute with an 8 s loop."""


def wait(
    info: WaitInfo, *, hold_url: str, choice_url: str, voice: Voice, words: CallerWords = ENGLISH
) -> str:
    """One loop of waiting: where the caller stands, then music (with a key to press, if offered)."""
    response = Response()
    add_say(response, words.waiting(info.position, info.estimate_seconds), voice)
    if info.offer_way_out or info.offer_callback:
        gather = response.add(
            "Gather",
            input="dtmf",
            numDigits=1,
            action=choice_url,
            method="POST",
            timeout=1,
            actionOnEmptyResult=False,
        )
        add_say(gather, words.way_out if info.offer_way_out else words.callback_offer, voice)
        gather.add("Play", hold_url, loop=MUSIC_LOOPS)
    else:
        response.add("Play", hold_url, loop=MUSIC_LOOPS)
    return str(response)


def leave(text: str, voice: Voice) -> str:
    """Out of the queue (the `<Enqueue action>` says what happens next)."""
    response = Response()
    add_say(response, text, voice)
    response.add("Leave")
    return str(response)


def back_to_waiting(wait_url: str, voice: Voice, words: CallerWords = ENGLISH) -> str:
    response = Response()
    add_say(response, words.stay, voice)
    response.add("Redirect", wait_url, method="POST")
    return str(response)


def goodbye(text: str, voice: Voice) -> str:
    response = Response()
    add_say(response, text, voice)
    response.add("Hangup")
    return str(response)


def whisper(summary: str, *, answer_url: str, voice: Voice, take: str) -> str:
    """The agent's leg: the summary, then one key (`take` says which). No key in time counts
    as not answered."""
    response = Response()
    gather = response.add(
        "Gather",
        input="dtmf",
        numDigits=1,
        action=answer_url,
        method="POST",
        timeout=8,
        actionOnEmptyResult=False,
    )
    add_say(gather, summary, voice)
    add_say(gather, take, voice)
    response.add("Redirect", answer_url, method="POST")
    return str(response)


def conference(name: str, *, voice: Voice, message: str = "", after_url: str = "") -> str:
    """Join the named conference; whoever leaves ends it for both (no one is left alone in it)."""
    response = Response()
    if message:
        add_say(response, message, voice)
    dial = response.add("Dial", action=after_url or None, method="POST" if after_url else None)
    dial.add("Conference", name, startConferenceOnEnter=True, endConferenceOnExit=True, beep=False)
    return str(response)


def add_record(response: Element, text: str, *, urls: Urls, vm_id: str, voice: Voice) -> None:
    """Say why, then record up to two minutes after a beep; Twilio reports the recording later."""
    add_say(response, text, voice)
    response.add(
        "Record",
        maxLength=120,
        playBeep=True,
        action=urls.voicemail_done(vm_id),
        method="POST",
        recordingStatusCallback=urls.recording(vm_id),
        recordingStatusCallbackMethod="POST",
        recordingStatusCallbackEvent="completed",
    )
    add_say(response, "I didn't get a message. Goodbye.", voice)
    response.add("Hangup")


def record(text: str, *, urls: Urls, vm_id: str, voice: Voice) -> str:
    response = Response()
    add_record(response, text, urls=urls, vm_id=vm_id, voice=voice)
    return str(response)
