"""Render the engine's steps as TwiML. Pure: data in, XML text out.

Rendering choices that make a line kind to callers live here:
- prompts that lead into a question go *inside* `<Gather>`, so a caller who knows
  the menu can press a key without waiting for the prompt to end;
- every `<Gather>` is followed by a `<Redirect>` that reports silence, so a caller who
  says nothing is re-prompted instead of meeting dead air.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse

from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.handoff import HandOff


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


def _add_prompt(target: VoiceResponse | TwimlGather, prompt: Prompt, voice: Voice) -> None:
    if isinstance(prompt, Audio):
        target.play(prompt.url)
        return
    options = {"language": voice.language}
    if voice.voice:
        options["voice"] = voice.voice
    target.say(prompt.text, **options)


def render(
    steps: Sequence[Renderable],
    *,
    turn_url: str,
    voice: Voice,
    handoff: HandOff,
) -> str:
    """TwiML for one turn. `turn_url` receives the caller's answer (and silence, with `silence=1`)."""
    response = VoiceResponse()
    pending: list[Prompt] = []

    def flush() -> None:
        for prompt in pending:
            _add_prompt(response, prompt, voice)
        pending.clear()

    for step in steps:
        match step:
            case Say() | Audio():
                if not step.interruptible:
                    flush()
                    _add_prompt(response, step, voice)
                else:
                    pending.append(step)
            case Gather():
                options: dict[str, object] = {
                    "input": "dtmf speech" if step.speech else "dtmf",
                    "action": turn_url,
                    "method": "POST",
                    "timeout": step.timeout,
                    "action_on_empty_result": False,
                }
                if step.speech:
                    options.update(language=voice.language, speech_timeout="auto")
                if step.digits:
                    options.update(finish_on_key=step.finish_on_key, num_digits=step.max_digits)
                    if step.speech:
                        options["speech_model"] = "numbers_and_commands"
                else:
                    # A menu key is one press; '#' may be an option, so it must not end input.
                    options.update(num_digits=1, finish_on_key="")
                if step.hints:
                    options["hints"] = ", ".join(step.hints)
                gather = response.gather(**options)
                for prompt in pending:
                    _add_prompt(gather, prompt, voice)
                pending.clear()
                response.redirect(f"{turn_url}&silence=1", method="POST")
            case Transfer():
                flush()
                handoff.render(response, step, f"{turn_url}&transfer=1")
            case Hangup():
                flush()
                response.hangup()
    flush()
    return str(response)


def render_stream(stream_url: str, action_url: str, parameters: Mapping[str, str]) -> str:
    """Hand the call to a bidirectional media stream; Twilio posts `action_url` when it closes.

    A stream URL cannot carry a query string: per-call values travel as `<Parameter>`s
    and arrive in the stream's `start` message.
    """
    response = VoiceResponse()
    connect = response.connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    return str(response)


def render_fallback(text: str, *, voice: Voice, handoff: HandOff, after_url: str) -> str:
    """Used when the service itself fails mid-call: apologise and reach a person.

    Needs no flow, no store and no synthesiser, so it works whatever broke.
    """
    response = VoiceResponse()
    _add_prompt(response, Say(text), voice)
    handoff.render(response, Transfer(reason="system_error"), after_url)
    return str(response)


def render_goodbye(text: str | None, *, voice: Voice) -> str:
    response = VoiceResponse()
    if text:
        _add_prompt(response, Say(text), voice)
    response.hangup()
    return str(response)
