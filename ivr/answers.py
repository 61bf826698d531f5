"""A turn's answer as a small record, and the TwiML rebuilt from it for a repeated webhook.

Twilio may deliver a webhook twice, and the second delivery must hear what the first was
answered. The line used to keep that answer as TwiML in the call's state, rewritten every
turn: a menu's TwiML with its recogniser hints is kilobytes, most of a session's size. Now a
turn keeps what it said as plain steps (the prompts, the question's settings), stored with
that turn's row, not in the state, and a repeat renders them again with the same renderer,
so the two answers cannot drift apart. Pure: data in, data out.

Two answers are not steps: the media stream's `<Connect>` (rebuilt from the call) and an
answer with a hand-off or the fault apology, whose preparation may have written records (a
queue entry, a voicemail) and is not done twice: those are kept as their TwiML (one per call,
at its end, and small: no recogniser hints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.step_twiml import Audio, Renderable


@dataclass(frozen=True, slots=True)
class Answer:
    """What the line answered one turn, read back from its record."""

    steps: tuple[Renderable, ...] = ()
    """The steps to render again (empty for the two kinds below)."""
    seq: int = 0
    """The turn number its URLs carried (`?seq=`)."""
    language: str = ""
    """The call's language its URLs carried (`&language=`)."""
    twiml: str = ""
    """An answer kept as it was sent (a hand-off, the apology)."""
    stream: bool = False
    """The call was handed to its media stream (`<Connect>`), in `language`."""


def of_steps(steps: Sequence[Renderable], seq: int, language: str) -> str:
    """The record of an answer rendered from `steps`; as TwiML-kept if a step hands over."""
    return orjson.dumps({"seq": seq, "lang": language, "steps": [_step(step) for step in steps]}).decode()


def of_twiml(twiml: str) -> str:
    """The record of an answer that cannot be rebuilt (see the module's docstring)."""
    return orjson.dumps({"twiml": twiml}).decode()


def of_stream(language: str) -> str:
    """The record of the `<Connect>` that hands a call to its media stream."""
    return orjson.dumps({"stream": True, "lang": language}).decode()


def rebuildable(steps: Sequence[Renderable]) -> bool:
    """Whether an answer of these steps can be kept as steps (no hand-off in it)."""
    return not any(isinstance(step, Transfer) for step in steps)


def read(record: str) -> Answer:
    """An answer's record, as `of_steps`, `of_twiml` or `of_stream` wrote it."""
    data: dict[str, Any] = orjson.loads(record)
    if "twiml" in data:
        return Answer(twiml=data["twiml"])
    if data.get("stream"):
        return Answer(stream=True, language=data.get("lang", ""))
    steps = tuple(_renderable(item) for item in data["steps"])
    return Answer(steps=steps, seq=int(data["seq"]), language=data.get("lang", ""))


def _step(step: Renderable) -> list[Any]:
    match step:
        case Say():
            return ["say", step.text, step.interruptible, step.language]
        case Audio():
            return ["play", step.url, step.text, step.interruptible]
        case Gather():
            return [
                "gather",
                step.digits,
                step.timeout,
                step.max_digits,
                step.finish_on_key,
                step.speech,
                list(step.hints),
                step.language,
            ]
        case Hangup():
            return ["hangup"]
        case Transfer():
            raise ValueError("an answer that hands over is kept as its TwiML (of_twiml)")


def _renderable(item: list[Any]) -> Renderable:
    kind = item[0]
    if kind == "say":
        return Say(item[1], item[2], item[3])
    if kind == "play":
        return Audio(item[1], item[2], item[3])
    if kind == "gather":
        return Gather(item[1], item[2], item[3], item[4], item[5], tuple(item[6]), item[7])
    if kind == "hangup":
        return Hangup()
    raise ValueError(f"unknown step '{kind}' in an answer's record")
