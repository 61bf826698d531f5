"""What the flow engine asks a channel to do, and what a channel reports back.

The engine knows nothing of TwiML or audio streams: it emits these steps and takes
these events. The TwiML adapter renders steps as verbs; a media-stream adapter can
render the same steps as synthesised audio, with no change to the engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    interruptible: bool = True
    """A key press or speech may cut this prompt short (false for legal notices)."""
    language: str = ""
    """The language it is spoken in (`de`); empty: the line's default."""


@dataclass(frozen=True, slots=True)
class Gather:
    """Wait for the caller. Preceding interruptible `Say` steps are the question."""

    digits: bool
    """True: collect a number (ends with `finish_on_key`); False: a menu choice."""
    timeout: int
    """Seconds of silence before the caller counts as not answering."""
    max_digits: int
    finish_on_key: str
    speech: bool
    hints: tuple[str, ...] = ()
    """Words worth recognising here (menu words, a few dozen), for the speech recogniser."""
    language: str = ""
    """The language to listen for (`de`); empty: the line's default."""
    phrases: tuple[str, ...] = ()
    """Further phrases the question understands (every intent's, at a menu): a local
    recogniser's grammar lists them with the hints; Twilio is sent the hints only."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the caller to a person, carrying what the flow learned."""

    reason: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Step = Say | Gather | Transfer | Hangup


class TransferResult(StrEnum):
    CONNECTED = "connected"
    """An agent took the call and it has ended: nothing more to do."""
    FAILED = "failed"
    """Nobody answered: the flow's fallback takes over."""


@dataclass(frozen=True, slots=True)
class Start:
    pass


KEYS = re.compile(r"[0-9*#]{1,64}")
"""What a phone keypad can send, and no more than any gather asks for.

`str.isdigit` also accepts Arabic-Indic or full-width digits (`٤٥١٢`, `４５１２`): a
caller's keypad never sends them, and comparing them with stored numbers fails (or
raises, in `hmac.compare_digest`), so anything outside ASCII ``0-9*#`` is no key."""


@dataclass(frozen=True, slots=True)
class Digits:
    digits: str
    """Keys pressed, always matching `KEYS`; ``""`` when what arrived was not keys (a no-match)."""


@dataclass(frozen=True, slots=True)
class Speech:
    text: str
    confidence: float = 1.0


MAX_SPEECH_CHARS = 500
"""Speech longer than this is cut before it is matched or stored: no menu phrase or spoken
number needs more, and a recogniser (or a forged webhook) may send pages of text."""


@dataclass(frozen=True, slots=True)
class NoInput:
    pass


@dataclass(frozen=True, slots=True)
class TransferEnded:
    result: TransferResult


@dataclass(frozen=True, slots=True)
class Resume:
    """The channel reconnected mid-call (a media stream dropped): ask again, count nothing."""


Event = Start | Digits | Speech | NoInput | TransferEnded | Resume
