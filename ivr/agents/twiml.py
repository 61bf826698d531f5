"""TwiML for the queue, the agent's whisper, conferences and voicemail. Pure: data in, XML out.

Every answer keeps the caller hearing something: the wait TwiML ends in music (Twilio asks
the wait URL again when it finishes), choices fall back to the queue, and every ending says
goodbye before hanging up.
"""

from __future__ import annotations

import math

from twilio.twiml.voice_response import VoiceResponse

from ivr.agents.model import WaitInfo
from ivr.agents.urls import Urls
from ivr.twiml import Voice

MUSIC_LOOPS = 6
"""Hold music plays this many times per announcement: about a minute with an 8 s loop."""


def _say(target: VoiceResponse, text: str, voice: Voice) -> None:
    options = {"language": voice.language}
    if voice.voice:
        options["voice"] = voice.voice
    target.say(text, **options)


def minutes(seconds: float) -> str:
    count = max(1, math.ceil(seconds / 60))
    return "about 1 minute" if count == 1 else f"about {count} minutes"


def wait(info: WaitInfo, *, hold_url: str, choice_url: str, voice: Voice) -> str:
    """One loop of waiting: where the caller stands, then music (with a key to press, if offered)."""
    response = VoiceResponse()
    place = "next" if info.position == 1 else f"number {info.position} in the queue"
    _say(response, f"You are {place}. Your estimated wait is {minutes(info.estimate_seconds)}.", voice)
    if info.offer_way_out or info.offer_callback:
        gather = response.gather(
            input="dtmf",
            num_digits=1,
            action=choice_url,
            method="POST",
            timeout=1,
            action_on_empty_result=False,
        )
        if info.offer_way_out:
            text = (
                "I'm sorry, nobody is free right now. To be called back, press 1. "
                "To leave a message, press 2. Or stay on the line."
            )
        else:
            text = "To be called back instead of waiting, press 1."
        _say(gather, text, voice)
        gather.play(hold_url, loop=MUSIC_LOOPS)
    else:
        response.play(hold_url, loop=MUSIC_LOOPS)
    return str(response)


def leave(text: str, voice: Voice) -> str:
    """Out of the queue (the `<Enqueue action>` says what happens next)."""
    response = VoiceResponse()
    _say(response, text, voice)
    response.leave()
    return str(response)


def back_to_waiting(wait_url: str, voice: Voice) -> str:
    response = VoiceResponse()
    _say(response, "Please stay on the line.", voice)
    response.redirect(wait_url, method="POST")
    return str(response)


def goodbye(text: str, voice: Voice) -> str:
    response = VoiceResponse()
    _say(response, text, voice)
    response.hangup()
    return str(response)


def whisper(summary: str, *, answer_url: str, voice: Voice) -> str:
    """The agent's leg: the summary, then one key. No key in time counts as not answered."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf", num_digits=1, action=answer_url, method="POST", timeout=8, action_on_empty_result=False
    )
    _say(gather, summary, voice)
    _say(gather, "Press 1 to take this call, or any other key to pass.", voice)
    response.redirect(answer_url, method="POST")
    return str(response)


def conference(name: str, *, voice: Voice, message: str = "", after_url: str = "") -> str:
    """Join the named conference; whoever leaves ends it for both (no one is left alone in it)."""
    response = VoiceResponse()
    if message:
        _say(response, message, voice)
    options = {"action": after_url, "method": "POST"} if after_url else {}
    dial = response.dial(**options)
    dial.conference(name, start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    return str(response)


def add_record(response: VoiceResponse, text: str, *, urls: Urls, vm_id: str, voice: Voice) -> None:
    """Say why, then record up to two minutes after a beep; Twilio reports the recording later."""
    _say(response, text, voice)
    response.record(
        max_length=120,
        play_beep=True,
        action=urls.voicemail_done(vm_id),
        method="POST",
        recording_status_callback=urls.recording(vm_id),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    _say(response, "I didn't get a message. Goodbye.", voice)
    response.hangup()


def record(text: str, *, urls: Urls, vm_id: str, voice: Voice) -> str:
    response = VoiceResponse()
    add_record(response, text, urls=urls, vm_id=vm_id, voice=voice)
    return str(response)
