"""Voice activity detection and endpointing for caller audio arriving in fixed frames.

A media stream delivers the caller's audio as 20 ms frames. The call needs
three facts from it: the caller *started* speaking (stop the prompt: barge-in),
the caller *finished* (a pause after speech ends the utterance, so recognition
can run) and the caller said *nothing* for the no-input timeout. This module
turns frames into those three events and nothing else: no I/O, and time is
counted in frames fed, never read from a clock, so a test replaying a
recording gets the same answer every run and as fast as numpy allows.

Detection is by energy against an adaptive noise floor. Phone lines carry
hiss at levels that differ from call to call, so a fixed threshold is either
deaf to a quiet caller on a clean line or triggered by the hiss on a noisy
one. The floor is learned from the quiet frames; a frame is voiced when it is
clearly above that floor *and* above an absolute minimum (so a digitally
silent line, whose floor is near zero, does not turn breath noise into
speech). The pause that ends an utterance (``end_silence_ms``) is also the
hangover: the gaps between words and digits, and the stops inside a word,
are far shorter, so they never end it.

One utterance per listening turn: ``SPEECH_STARTED`` once, then
``SPEECH_ENDED`` once, or ``NO_INPUT`` once if nobody spoke in time. In
between, ``PAUSED`` at each short pause, where the listener may say the
answer is complete: then the short pause, not the long one, ends it. After a
final event ``feed`` returns ``None`` until ``reset``, which the adapter calls
before the next question.

    frames ──► Endpointer.feed ──► None … SPEECH_STARTED … None … SPEECH_ENDED
                                   └─ or, if nothing was said ─► NO_INPUT
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ivr.speech.audio import Samples

_FULL_SCALE = 32768.0
_ENERGY_FLOOR_DB = -96.0
"""Level given to digital silence, whose log energy would be minus infinity (16-bit range)."""

_FIRST_FLOOR_MAX_DBFS = -40.0
"""Highest first guess of the floor, which is otherwise the level of the first frame.

A caller already talking when the stream opens would otherwise set the floor
at speech level and go unheard until a pause; hiss louder than -40 dBFS
(an RMS of 330) is not a usable line, so capping the guess there costs nothing.
"""

_FLOOR_FALL = 0.5
"""Share of the gap closed per frame when a frame is quieter than the floor.

Fast, so the floor settles within about 100 ms of the first quiet audio and
an early loud frame (breath, click) that set it too high is soon forgotten.
"""

_FLOOR_RISE = 0.05
"""Share of the gap closed per quiet-but-above-floor frame: slow (a time constant near 0.4 s).

Speech onsets are unvoiced for a frame or two; a fast rise would let them
drag the floor up and hide the voiced part behind it.
"""

_FLOOR_CREEP_DB = 0.02
"""dB the floor rises per voiced frame (1 dB/s at 20 ms frames).

If the line's hiss jumps for good (a fan switched on, a noisier hop), every
frame looks voiced and nothing quiet is left to learn from; the creep lets
the floor catch up within seconds instead of never. Real speech dips back
to the floor between words, which pulls the floor straight back down.
"""


@dataclass(frozen=True)
class EndpointConfig:
    """Timings and levels of the endpointer; times are in milliseconds of audio fed."""

    frame_ms: int = 20
    """Length of one frame given to ``feed``; Twilio Media Streams send 20 ms."""

    sample_rate: int = 8000
    """Samples per second of the frames; with ``frame_ms`` it fixes the frame length ``feed`` accepts."""

    start_ms: int = 100
    """Voiced audio needed before ``SPEECH_STARTED``.

    Long enough that a click, a cough's burst or a line glitch (one or two
    frames) does not stop a prompt; short enough that barge-in feels
    immediate (the event fires about 150 ms into the word).
    """

    end_silence_ms: int = 700
    """Pause after speech that ends the utterance while the answer could still go on.

    Callers reading out an order number pause 200-500 ms between groups of
    digits; 700 ms waits those out while adding less than a second before the
    line answers.
    """

    complete_silence_ms: int = 200
    """Pause that ends the utterance once the words so far already answer the question.

    The listener says so with ``Endpointer.answer_complete`` (a "yes", a menu word,
    a number of the length asked for). People leave about 200 ms between turns in
    conversation: waiting the full ``end_silence_ms`` after a complete answer is
    what makes a machine feel slow. Never longer than ``end_silence_ms``.
    """

    no_input_ms: int = 6000
    """Silence after ``reset`` (or after the prompt, see ``Endpointer.reset``) that gives ``NO_INPUT``."""

    max_utterance_ms: int = 15000
    """Cap on one utterance, so a caller on a loud street (or a radio) still gets an answer."""

    speech_margin_db: float = 9.0
    """How far above the noise floor a frame must be to start speech (9 dB: about 2.8 times its RMS)."""

    continue_margin_db: float = 6.0
    """Lower margin that keeps an utterance going: word endings and soft consonants fade towards the floor."""

    min_speech_dbfs: float = -60.0
    """Absolute minimum level of a voiced frame, in dB relative to full scale (an RMS of about 58).

    Quiet callers on the phone speak around -45 to -40 dBFS, normal ones
    around -25; a clean digital line idles below -70. Without this floor a
    silent line's floor would sit near zero and make breathing count as speech.
    """

    def __post_init__(self) -> None:
        if self.frame_ms <= 0 or self.sample_rate <= 0:
            raise ValueError(
                f"frame_ms and sample_rate must be positive: {self.frame_ms}, {self.sample_rate}"
            )
        for name in ("start_ms", "end_silence_ms", "complete_silence_ms", "no_input_ms", "max_utterance_ms"):
            if getattr(self, name) < self.frame_ms:
                raise ValueError(f"{name} must be at least one frame ({self.frame_ms} ms)")
        if self.continue_margin_db > self.speech_margin_db:
            raise ValueError("continue_margin_db must not exceed speech_margin_db")
        if self.complete_silence_ms > self.end_silence_ms:
            raise ValueError("complete_silence_ms must not exceed end_silence_ms")

    @property
    def frame_samples(self) -> int:
        """Samples in one frame."""
        return round(self.frame_ms * self.sample_rate / 1000)

    def frames_for(self, ms: int) -> int:
        """Whole frames covering ``ms`` milliseconds (at least one)."""
        return max(1, math.ceil(ms / self.frame_ms))


class EndpointEvent(StrEnum):
    """What one frame revealed about the caller's turn."""

    SPEECH_STARTED = "speech_started"
    """The caller has been speaking for ``start_ms``: stop any prompt (barge-in) and keep the audio."""

    PAUSED = "paused"
    """The caller has paused for ``complete_silence_ms`` mid-utterance: time to ask whether the
    words so far answer the question (``Endpointer.answer_complete``); fires once per pause."""

    SPEECH_ENDED = "speech_ended"
    """The caller paused for ``end_silence_ms`` after speaking (``complete_silence_ms`` once the
    answer was complete), or hit ``max_utterance_ms``."""

    NO_INPUT = "no_input"
    """Nothing was said within the no-input timeout."""


def frame_dbfs(frame: Samples) -> float:
    """Level of one frame in dB relative to full scale, after removing its DC offset.

    Some lines and sound cards add a constant offset, which would read as
    energy that never goes away; subtracting the frame's mean removes it
    (and nothing audible: what it takes out is below 50 Hz, and a phone line
    carries nothing under 300 Hz).
    """
    values = frame.astype(np.float64)
    values -= values.mean()
    power = float(np.mean(values * values))
    if power <= 0.0:
        return _ENERGY_FLOOR_DB
    return max(_ENERGY_FLOOR_DB, 10 * math.log10(power / (_FULL_SCALE * _FULL_SCALE)))


class Endpointer:
    """Turns a stream of equal frames into start, end and no-input events for one turn at a time.

    The noise floor survives ``reset``: the line's hiss does not change
    between questions, and a floor already learned during the prompt means
    the caller can be heard from the first frame of the next turn.
    """

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._start_frames = self.config.frames_for(self.config.start_ms)
        self._end_frames = self.config.frames_for(self.config.end_silence_ms)
        self._complete_frames = self.config.frames_for(self.config.complete_silence_ms)
        self._max_frames = self.config.frames_for(self.config.max_utterance_ms)
        self._floor_db: float | None = None
        self._waiting_frames: int | None = 0  # Frames counted towards no-input; None while a prompt plays.
        self.reset()

    def reset(self, no_input_ms: int | None = None, *, prompt_playing: bool = False) -> None:
        """Start listening afresh for one utterance (e.g. for the next question).

        ``no_input_ms`` overrides the configured timeout for this turn (flows
        ask some questions with more patience than others). With
        ``prompt_playing`` the caller can barge in at once, but the no-input
        clock waits for ``prompt_finished``: a caller who listens to a long
        prompt politely has not failed to answer.
        """
        timeout = self.config.no_input_ms if no_input_ms is None else no_input_ms
        if timeout < self.config.frame_ms:
            raise ValueError(f"no_input_ms must be at least one frame ({self.config.frame_ms} ms)")
        self._no_input_frames = self.config.frames_for(timeout)
        self._waiting_frames = None if prompt_playing else 0
        self._onset = 0  # Leaky count of voiced frames while waiting for speech.
        self._onset_run = 0  # Frames since the current candidate onset began.
        self._speaking = False
        self._done = False
        self._utterance_frames = 0  # From onset to the last voiced frame.
        self._since_onset = 0  # From onset to now, for the cap.
        self._silent_run = 0
        self._complete = False

    def answer_complete(self, complete: bool) -> bool:
        """Say whether the words recognised so far already answer the question; True: ended now.

        While they do, a pause of ``complete_silence_ms`` ends the utterance; when
        later words make the answer open again ("four five" after "forty"), the
        long pause is back. Decided by the listener, which knows the question: this
        class only counts frames. When the pause is already that long (the listener
        was told at ``PAUSED``), the utterance ends here and now: the caller of this
        method takes it as ``SPEECH_ENDED``, which ``feed`` will not report again.
        """
        self._complete = complete
        if complete and self._speaking and self._silent_run >= self._complete_frames:
            self._end()
            return True
        return False

    def prompt_finished(self) -> None:
        """Start the no-input clock of a turn begun with ``reset(prompt_playing=True)``."""
        if self._waiting_frames is None:
            self._waiting_frames = 0

    @property
    def speaking(self) -> bool:
        """True between ``SPEECH_STARTED`` and ``SPEECH_ENDED``."""
        return self._speaking

    @property
    def utterance_ms(self) -> int:
        """Length of the current (or last) utterance, from its onset to its last voiced frame.

        Excludes the closing pause, so it is how long the caller spoke, not
        how long the line waited; zero when nothing has been said this turn.
        """
        return self._utterance_frames * self.config.frame_ms

    @property
    def pause_ms(self) -> int:
        """How long the caller has been quiet inside the current utterance (0 while voiced).

        A listener stops feeding its recogniser once a pause passes ``complete_silence_ms``:
        that is enough silence to finish the last word, and the rest only costs decoding."""
        return self._silent_run * self.config.frame_ms if self._speaking else 0

    @property
    def noise_floor_dbfs(self) -> float | None:
        """Current estimate of the line's noise level; ``None`` before the first frame."""
        return self._floor_db

    def feed(self, frame: Samples) -> EndpointEvent | None:
        """Take the next frame of caller audio; return the event it completes, if any.

        Raises:
            ValueError: the frame is not ``config.frame_samples`` long (time is
                counted in frames, so a short frame would make the clock lie).
        """
        if len(frame) != self.config.frame_samples:
            raise ValueError(f"expected {self.config.frame_samples} samples per frame, got {len(frame)}")
        level = frame_dbfs(frame)
        floor = min(level, _FIRST_FLOOR_MAX_DBFS) if self._floor_db is None else self._floor_db
        voiced = level >= max(floor + self.config.speech_margin_db, self.config.min_speech_dbfs)
        sustained = level >= max(floor + self.config.continue_margin_db, self.config.min_speech_dbfs)
        self._floor_db = self._next_floor(floor, level, voiced)
        if self._done:
            return None
        if self._speaking:
            return self._while_speaking(sustained)
        return self._while_waiting(voiced, sustained)

    def _next_floor(self, floor: float, level: float, voiced: bool) -> float:
        """Follow quieter audio quickly, louder quiet audio slowly, and creep up under speech."""
        if level < floor:
            return floor + _FLOOR_FALL * (level - floor)
        if not voiced:
            return floor + _FLOOR_RISE * (level - floor)
        return floor + _FLOOR_CREEP_DB

    def _while_waiting(self, voiced: bool, sustained: bool) -> EndpointEvent | None:
        """Count voiced frames towards an onset, then run the no-input clock.

        The count is leaky rather than reset by a quiet frame, and frames
        between the two margins hold it: words often open with a soft
        consonant ("six", "seven") that flickers around the threshold, and
        restarting the count there would delay barge-in by the whole consonant.
        """
        if voiced:
            self._onset += 1
        elif not sustained and self._onset:
            self._onset -= 1
        self._onset_run = self._onset_run + 1 if self._onset else 0
        if self._onset >= self._start_frames:
            self._speaking = True
            self._since_onset = self._onset_run
            self._utterance_frames = self._onset_run
            self._silent_run = 0
            return EndpointEvent.SPEECH_STARTED
        if self._waiting_frames is None:
            return None
        self._waiting_frames += 1
        # A word begun just before the deadline gets the time it needs to be confirmed.
        deadline = self._no_input_frames + (self._start_frames if self._onset else 0)
        if self._waiting_frames >= deadline:
            self._done = True
            return EndpointEvent.NO_INPUT
        return None

    def _while_speaking(self, sustained: bool) -> EndpointEvent | None:
        """Extend the utterance on voiced frames; end it after a long enough pause or at the cap."""
        self._since_onset += 1
        if sustained:
            self._silent_run = 0
            self._utterance_frames = self._since_onset
        else:
            self._silent_run += 1
        pause = self._complete_frames if self._complete else self._end_frames
        if self._silent_run >= pause or self._since_onset >= self._max_frames:
            self._end()
            return EndpointEvent.SPEECH_ENDED
        if self._silent_run == self._complete_frames:
            return EndpointEvent.PAUSED
        return None

    def _end(self) -> None:
        self._speaking = False
        self._done = True
