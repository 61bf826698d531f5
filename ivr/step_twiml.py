"""Render the engine's steps as TwiML. Pure: data in, XML text out.

Rendering choices that make a line kind to callers live here:
- prompts that lead into a question go *inside* `<Gather>`, so a caller who knows
  the menu can press a key without waiting for the prompt to end;
- every `<Gather>` is followed by a `<Redirect>` that reports silence, so a caller who
  says nothing is re-prompted instead of meeting dead air.

The XML is written with `ivr.twiml_builder` (escaped, always well-formed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.handoff import HandOff
from ivr.twiml_builder import Element, Response


@dataclass(frozen=True, slots=True)
class Audio:
    """A prompt as a recording this service serves (locally synthesised speech)."""

    url: str
    text: str
    interruptible: bool = True


Prompt = Say | Audio
Renderable = Say | Audio | Gather | Transfer | Hangup


@dataclass(frozen=True, slots=True)
class Voice:
    """How `<Say>` speaks and `<Gather>` listens."""

    language: str = "en-US"
    voice: str = ""


def add_say(target: Element, text: str, voice: Voice) -> None:
    """`<Say>` in the line's language and voice."""
    target.add("Say", text, language=voice.language, voice=voice.voice or None)


def _add_prompt(target: Element, prompt: Prompt, voice: Voice) -> None:
    if isinstance(prompt, Audio):
        target.add("Play", prompt.url)
    else:
        add_say(target, prompt.text, voice)


def render(
    steps: Sequence[Renderable],
    *,
    turn_url: str,
    voice: Voice,
    handoff: HandOff,
    voices: Mapping[str, Voice] | None = None,
) -> str:
    """TwiML for one turn. `turn_url` receives the caller's answer (and silence, with `silence=1`).

    `voice` is the line's default language; `voices` each served language's, by code: a
    step in German is said and listened for as `de-DE`, in German's voice.
    """
    response = Response()
    pending: list[Prompt] = []
    spoken = voices or {}

    def voice_of(language: str) -> Voice:
        return spoken.get(language, voice) if language else voice

    def add(target: Element, prompt: Prompt) -> None:
        _add_prompt(target, prompt, voice_of(prompt.language if isinstance(prompt, Say) else ""))

    def flush() -> None:
        for prompt in pending:
            add(response, prompt)
        pending.clear()

    for step in steps:
        match step:
            case Say() | Audio():
                if not step.interruptible:
                    flush()
                    add(response, step)
                else:
                    pending.append(step)
            case Gather():
                gather = response.add(
                    "Gather",
                    input="dtmf speech" if step.speech else "dtmf",
                    action=turn_url,
                    method="POST",
                    timeout=step.timeout,
                    actionOnEmptyResult=False,
                    language=voice_of(step.language).language if step.speech else None,
                    speechTimeout="auto" if step.speech else None,
                    speechModel="numbers_and_commands" if step.speech and step.digits else None,
                    hints=", ".join(step.hints) if step.hints else None,
                    # A menu key is one press; '#' may be an option, so it must not end input.
                    finishOnKey=step.finish_on_key if step.digits else "",
                    numDigits=step.max_digits if step.digits else 1,
                )
                for prompt in pending:
                    add(gather, prompt)
                pending.clear()
                response.add("Redirect", f"{turn_url}&silence=1", method="POST")
            case Transfer():
                flush()
                handoff.render(response, step, f"{turn_url}&transfer=1")
            case Hangup():
                flush()
                response.add("Hangup")
    flush()
    return str(response)


def render_stream(stream_url: str, action_url: str, parameters: Mapping[str, str]) -> str:
    """Hand the call to a bidirectional media stream; Twilio posts `action_url` when it closes.

    A stream URL cannot carry a query string: per-call values travel as `<Parameter>`s
    and arrive in the stream's `start` message.
    """
    response = Response()
    stream = response.add("Connect", action=action_url, method="POST").add("Stream", url=stream_url)
    for name, value in parameters.items():
        stream.add("Parameter", name=name, value=value)
    return str(response)


def render_fallback(text: str, *, voice: Voice, handoff: HandOff, after_url: str, language: str = "") -> str:
    """Used when the service itself fails mid-call: apologise and reach a person.

    Needs no flow, no store and no synthesiser, so it works whatever broke. `language` (the
    caller's) goes with the hand-off, so the queue speaks it and routes to someone who does.
    """
    response = Response()
    add_say(response, text, voice)
    context = {"language": language} if language else {}
    handoff.render(response, Transfer(reason="system_error", context=context), after_url)
    return str(response)


def render_goodbye(text: str | None, *, voice: Voice) -> str:
    response = Response()
    if text:
        add_say(response, text, voice)
    response.add("Hangup")
    return str(response)


def queue_wait(*, announcement: str, hold_url: str, voice: Voice, leave: bool = False) -> str:
    """One loop of waiting in a plain Twilio queue: the caller's place and Twilio's average wait
    (`announcement`, in the caller's language; empty when Twilio did not say: music only), then
    hold music; Twilio asks again when it ends.

    `leave`: the caller has waited long enough; `<Leave>` ends the `<Enqueue>` as not
    connected, and the flow's fallback offers a call back instead of more music.
    """
    response = Response()
    if leave:
        response.add("Leave")
        return str(response)
    if announcement:
        add_say(response, announcement, voice)
    response.add("Play", hold_url, loop=6)
    return str(response)
