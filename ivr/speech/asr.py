"""Speech recognition behind one narrow async interface, whatever the engine.

A call needs "audio in, words out" while the caller is still talking, so the
:class:`Recognizer` protocol is three calls: :meth:`~Recognizer.accept` a chunk of
PCM (maybe getting a partial hypothesis back), :meth:`~Recognizer.finish` the
utterance when the line's own endpointer says the caller stopped, and
:meth:`~Recognizer.set_grammar` to narrow the next utterance to the answers a
menu expects ("yes", "no", digits), which is both faster and far more
accurate than free-form recognition on phone audio.

A :class:`RecognizerFactory` makes one recogniser per call on whatever the
engine shares between calls (a loaded model). Calls and voicemail depend only
on these two protocols; the engine (:mod:`ivr.speech.vosk_asr`) is chosen where the
application is wired, so the turn-taking code can be tested with a fake.

How one recogniser is used, per utterance::

    call                                   Recognizer
      | set_grammar(["yes", "no"]) ----------> | remembered, applied at the next utterance
      | accept(20 ms PCM) ---------------------> |
      | <- None or Transcript(partial=True) --- |
      | ... (the engine may end a segment itself: Transcript(partial=False), utterance goes on)
      | finish() -------------------------------> |
      | <- Transcript(text, confidence, partial=False); the next accept starts a new utterance
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

UNKNOWN_WORD = "[unk]"
"""What a recogniser outputs, under a grammar, for speech that matches none of its phrases.

It is Vosk's spelling, added to every grammar so that "no match" can be told
apart from "nothing said". Some models (the small Korean one, for instance)
have no such word; there, out-of-grammar speech comes out as the closest phrase.
"""


class RecognitionErrorCode(StrEnum):
    """Stable codes for logs, metrics and the operator console; never reword them."""

    MODEL_MISSING = "asr_model_missing"
    """No model directory where the configuration points."""
    MODEL_INVALID = "asr_model_invalid"
    """The directory exists but is not a loadable model."""
    ENGINE_MISSING = "asr_engine_missing"
    """The engine's package (``vosk``) is not installed."""
    ENGINE_FAILED = "asr_engine_failed"
    """The engine rejected audio, returned garbage, or the recogniser pool is closed."""


class RecognitionError(Exception):
    """Recognition failed; ``code`` is a stable :class:`RecognitionErrorCode` value."""

    def __init__(self, code: RecognitionErrorCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        """Stable machine-readable reason, e.g. ``"asr_model_missing"``."""
        self.detail = detail
        """Human-readable context for logs and the console; may change between versions."""


@dataclass(frozen=True)
class Transcript:
    """What was recognised of the current utterance so far (or in total, when final)."""

    text: str
    """The words since the utterance began, space-separated; ``""`` if nothing was recognised.

    Under a grammar it may contain :data:`UNKNOWN_WORD` for speech outside it.
    """
    confidence: float
    """0-1: the mean of the engine's per-word confidences for a final result, 1.0 for a
    non-empty result without them (partials carry none), 0.0 for an empty one."""
    partial: bool
    """True for a hypothesis that may still change as more audio arrives."""


class Recognizer(Protocol):
    """One call's speech recogniser: 16-bit little-endian mono PCM in, transcripts out."""

    async def accept(self, pcm: bytes) -> Transcript | None:
        """Feed audio at the recogniser's sample rate; return a transcript when there is news.

        News is a partial hypothesis that changed, or a final one when the engine
        decided by itself that a segment of speech ended (the utterance still
        goes on until :meth:`finish`). ``None`` otherwise.
        """
        ...

    async def finish(self) -> Transcript:
        """Return the final transcript of the whole utterance and start a new one."""
        ...

    def set_grammar(self, phrases: Sequence[str] | None) -> None:
        """Restrict the next utterance to ``phrases`` (plus :data:`UNKNOWN_WORD`); ``None``: free-form.

        Takes effect from the next utterance, never in the middle of one.
        Words the model does not know are dropped from the phrases.
        """
        ...


class RecognizerFactory(Protocol):
    """Makes recognisers for calls on what the engine shares between them (a loaded model)."""

    async def recognizer(self, sample_rate: int = 8000, grammar: Sequence[str] | None = None) -> Recognizer:
        """A new recogniser for one call or recording, restricted to ``grammar`` from the start.

        Raises :class:`RecognitionError` when the engine or its model cannot be
        had (``asr_model_missing``, ``asr_model_invalid``, ``asr_engine_missing``).
        """
        ...


Grammar = tuple[str, ...] | None
"""A normalised grammar: phrases with single spaces, in order, no duplicates; ``None`` is free-form."""


def normalise_grammar(phrases: Sequence[str] | None) -> Grammar:
    """Collapse whitespace, drop empty and duplicate phrases, keep the order.

    A plain string is refused: it is a ``Sequence[str]`` too, and would
    silently become a grammar of single letters. An empty grammar is refused
    because it could only ever produce :data:`UNKNOWN_WORD`; pass ``None`` for
    free-form recognition.
    """
    if phrases is None:
        return None
    if isinstance(phrases, str):
        raise TypeError("grammar must be a sequence of phrases, not a single string")
    normalised: dict[str, None] = {}
    for phrase in phrases:
        words = " ".join(phrase.split())
        if words and words != UNKNOWN_WORD:
            normalised[words] = None
    if not normalised:
        raise ValueError("grammar has no phrases; use None for free-form recognition")
    return tuple(normalised)
