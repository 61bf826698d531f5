"""The endpointer on real callers: spoken digits from three people, on a hissy line, raw and through mu-law.

Utterances are built the way a caller reads out a number: one speaker's
digits joined by short pauses, with silence before and after, and low-level
noise added (seeded) because a real line is never digitally silent. Times
are measured against where the speech really is in each recording, so the
assertions are about detection delay, not about how the files were cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.speech import audio
from ivr.speech.vad import EndpointConfig, Endpointer, EndpointEvent, frame_dbfs

RATE = 8000
FRAME_MS = 20
SPEAKERS = ("jackson", "nicolas", "theo")
INDICES = range(10)
"""Recordings used per speaker and digit: ten keeps the suite fast; all fifty behave the same."""

LINE_NOISE_RMS = 16.0
"""Hiss at -66 dBFS: a quiet but not silent phone line, 20 dB under theo, the softest speaker."""

START_SLACK_MS = 100
"""How much later than ``start_ms`` the start may fire: the first word can begin softly."""

END_SLACK_MS = 100
"""How far either side of ``end_silence_ms`` after the last word the end may fire: words fade out."""


def fsdd_dir() -> Path | None:
    """The spoken-digit recordings beside the repository (where CI puts them), or None."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
    return path if path.is_dir() else None


@pytest.fixture(scope="module")
def fsdd() -> Path:
    path = fsdd_dir()
    if path is None:
        pytest.skip("spoken-digit recordings not found at ../shared/data/fsdd beside the repository")
    return path


@cache
def _digit(root: Path, digit: int, speaker: str, index: int) -> audio.Samples:
    samples, rate = audio.decode_wav((root / f"{digit}_{speaker}_{index}.wav").read_bytes())
    assert rate == RATE
    return speech_extent(samples)


def speech_extent(samples: audio.Samples) -> audio.Samples:
    """The recording from its first to its last 30 ms within 25 dB of its loudest 10 ms.

    Some files start with a click before a quiet pause; measuring delays from
    the click would blame the endpointer for the speaker's hesitation.
    """
    levels = np.array([frame_dbfs(frame) for frame in audio.frames(samples, RATE, 10)])
    loud = levels >= levels.max() - 25
    runs = np.flatnonzero(loud[:-2] & loud[1:-1] & loud[2:])
    step = RATE // 100
    return samples[runs[0] * step : (runs[-1] + 3) * step]


@dataclass(frozen=True)
class Utterance:
    samples: audio.Samples
    speech_start_ms: float
    speech_end_ms: float


def utterance(
    root: Path,
    speaker: str,
    index: int,
    digits: list[int],
    *,
    gap_ms: float = 200,
    lead_ms: float = 1000,
    trail_ms: float = 1500,
    noise_rms: float = LINE_NOISE_RMS,
) -> Utterance:
    """One speaker's digits joined by pauses, with silence around and seeded line noise."""
    parts = [audio.silence(lead_ms, RATE)]
    for position, digit in enumerate(digits):
        if position:
            parts.append(audio.silence(gap_ms, RATE))
        parts.append(_digit(root, digit, speaker, index))
    speech_end = sum(len(part) for part in parts)
    parts.append(audio.silence(trail_ms, RATE))
    frame = RATE * FRAME_MS // 1000
    clean = np.concatenate(parts).astype(np.float64)
    clean = np.pad(clean, (0, -clean.size % frame))  # Whole frames, so the last one is noisy too.
    rng = np.random.default_rng(index * 100 + sum(digits))
    noisy = np.clip(np.rint(clean + rng.normal(0.0, noise_rms, clean.size)), -32768, 32767)
    return Utterance(noisy.astype(np.int16), len(parts[0]) * 1000 / RATE, speech_end * 1000 / RATE)


def events(endpointer: Endpointer, samples: audio.Samples) -> list[tuple[int, EndpointEvent]]:
    """Every event with the time (ms of audio fed) at the end of the frame that produced it."""
    found = []
    for number, frame in enumerate(audio.frames(samples, RATE, FRAME_MS)):
        event = endpointer.feed(frame)
        if event is not None:
            found.append(((number + 1) * FRAME_MS, event))
    return found


def through_mulaw(samples: audio.Samples) -> audio.Samples:
    """What the adapter gets from Twilio: the caller's audio after G.711 mu-law."""
    return audio.ulaw_decode(audio.ulaw_encode(samples))


def digit_string(index: int) -> list[int]:
    """Four different digits, a different string for each recording index."""
    return [(index + 3 * k) % 10 for k in range(4)]


def lead_for(index: int) -> float:
    """Leading silence that puts speech at a different point inside a 20 ms frame for each index."""
    return 700 + 37 * index


def check_one_utterance(found: list[tuple[int, EndpointEvent]], spoken: Utterance) -> tuple[float, float]:
    """Assert a single well-timed utterance; return its start and end delays in ms."""
    config = EndpointConfig()
    assert [event for _, event in found] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]
    start_delay = found[0][0] - spoken.speech_start_ms
    end_delay = found[1][0] - spoken.speech_end_ms
    # The first voiced frame may hold only the word's first samples, hence one frame less.
    assert config.start_ms - FRAME_MS < start_delay <= config.start_ms + START_SLACK_MS
    assert config.end_silence_ms - END_SLACK_MS <= end_delay <= config.end_silence_ms + END_SLACK_MS
    return start_delay, end_delay


@pytest.mark.parametrize("speaker", SPEAKERS)
def test_a_four_digit_string_is_one_utterance_with_prompt_start_and_end(fsdd: Path, speaker: str) -> None:
    start_delays, end_delays = [], []
    for index in INDICES:
        spoken = utterance(fsdd, speaker, index, digit_string(index), lead_ms=lead_for(index))
        endpointer = Endpointer()
        start_delay, end_delay = check_one_utterance(events(endpointer, spoken.samples), spoken)
        start_delays.append(start_delay)
        end_delays.append(end_delay)
        spoke_ms = spoken.speech_end_ms - spoken.speech_start_ms
        assert abs(endpointer.utterance_ms - spoke_ms) <= 150
    assert float(np.median(start_delays)) <= 150
    assert float(np.median(end_delays)) <= EndpointConfig().end_silence_ms + 20


@pytest.mark.parametrize("speaker", SPEAKERS)
def test_mulaw_from_the_line_gives_the_same_events(fsdd: Path, speaker: str) -> None:
    for index in INDICES:
        spoken = utterance(fsdd, speaker, index, digit_string(index), lead_ms=lead_for(index))
        raw = events(Endpointer(), spoken.samples)
        coded = events(Endpointer(), through_mulaw(spoken.samples))
        check_one_utterance(coded, spoken)
        assert [event for _, event in coded] == [event for _, event in raw]
        for (raw_ms, _), (coded_ms, _) in zip(raw, coded, strict=True):
            assert abs(raw_ms - coded_ms) <= FRAME_MS


def test_speaking_stays_true_through_the_pauses_between_digits(fsdd: Path) -> None:
    spoken = utterance(fsdd, "nicolas", 3, [4, 0, 7, 2], gap_ms=300)
    endpointer = Endpointer()
    states = []
    for frame in audio.frames(spoken.samples, RATE, FRAME_MS):
        endpointer.feed(frame)
        states.append(endpointer.speaking)
    speaking = np.flatnonzero(states)
    assert speaking.size and np.all(np.diff(speaking) == 1)  # One unbroken run, gaps included.


def test_a_pause_longer_than_end_silence_ends_the_utterance_inside_it(fsdd: Path) -> None:
    first = _digit(fsdd, 5, "jackson", 2)
    pause_ms = 1500
    spoken = utterance(fsdd, "jackson", 2, [5, 8], gap_ms=pause_ms)
    found = events(Endpointer(), spoken.samples)
    first_end = spoken.speech_start_ms + len(first) * 1000 / RATE
    assert [event for _, event in found] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]
    assert first_end < found[1][0] < first_end + pause_ms  # The second digit belongs to the next turn.


@pytest.mark.parametrize("noise_rms", [0.0, LINE_NOISE_RMS, 100.0, 300.0])
@pytest.mark.parametrize("mulaw", [False, True])
def test_silence_and_hiss_give_no_input_at_the_timeout_and_never_speech(
    noise_rms: float, mulaw: bool
) -> None:
    rng = np.random.default_rng(42)
    config = EndpointConfig()
    hiss = np.rint(rng.normal(0.0, noise_rms, RATE * 9)).astype(np.int16)
    if mulaw:
        hiss = through_mulaw(hiss)
    endpointer = Endpointer(config)
    assert events(endpointer, hiss) == [(config.no_input_ms, EndpointEvent.NO_INPUT)]
    assert not endpointer.speaking
    assert endpointer.utterance_ms == 0


def test_no_input_timeout_can_be_set_per_question() -> None:
    endpointer = Endpointer()
    endpointer.reset(no_input_ms=3000)
    assert events(endpointer, audio.silence(4000, RATE)) == [(3000, EndpointEvent.NO_INPUT)]


def test_the_floor_adapts_to_a_hissy_line_above_the_absolute_minimum(fsdd: Path) -> None:
    """-50 dBFS hiss is above the absolute minimum: only the learned floor keeps it from being speech."""
    hiss_rms = 100.0
    assert 20 * np.log10(hiss_rms / 32768) > EndpointConfig().min_speech_dbfs
    for index in INDICES:
        spoken = utterance(
            fsdd, "jackson", index, digit_string(index), lead_ms=lead_for(index), noise_rms=hiss_rms
        )
        endpointer = Endpointer()
        check_one_utterance(events(endpointer, spoken.samples), spoken)
        floor = endpointer.noise_floor_dbfs
        assert floor is not None and abs(floor - 20 * np.log10(hiss_rms / 32768)) < 3


def test_a_caller_already_talking_when_the_stream_opens_is_heard_at_once(fsdd: Path) -> None:
    spoken = utterance(fsdd, "jackson", 3, [1, 2], lead_ms=0)
    found = events(Endpointer(), spoken.samples)
    check_one_utterance(found, spoken)


def test_a_lasting_jump_in_hiss_is_learned_as_the_new_floor() -> None:
    """A +12 dB step looks like speech for a moment; the floor must catch up rather than stay deaf."""
    rng = np.random.default_rng(5)
    quiet = rng.normal(0.0, 30.0, RATE * 3)
    loud = rng.normal(0.0, 120.0, RATE * 12)
    line = np.rint(np.concatenate([quiet, loud])).astype(np.int16)
    endpointer = Endpointer()
    found = events(endpointer, line[: RATE * 9])
    assert [event for _, event in found] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]
    endpointer.reset()
    assert [event for _, event in events(endpointer, line[RATE * 9 :])] == [EndpointEvent.NO_INPUT]


def test_speech_just_before_the_timeout_is_heard_not_reported_as_no_input(fsdd: Path) -> None:
    config = EndpointConfig()
    spoken = utterance(fsdd, "theo", 1, [9], lead_ms=config.no_input_ms - 2 * FRAME_MS)
    found = events(Endpointer(config), spoken.samples)
    assert [event for _, event in found] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]


def test_barge_in_during_a_prompt_and_no_input_clock_after_it(fsdd: Path) -> None:
    config = EndpointConfig()
    endpointer = Endpointer(config)
    endpointer.reset(prompt_playing=True)
    assert events(endpointer, audio.silence(8000, RATE)) == []  # A long prompt heard in silence.
    endpointer.prompt_finished()
    assert events(endpointer, audio.silence(config.no_input_ms, RATE)) == [
        (config.no_input_ms, EndpointEvent.NO_INPUT)
    ]

    endpointer.reset(prompt_playing=True)
    spoken = utterance(fsdd, "theo", 4, [1, 2], lead_ms=500)
    found = events(endpointer, spoken.samples)
    assert found[0][1] is EndpointEvent.SPEECH_STARTED
    assert found[0][0] - spoken.speech_start_ms <= config.start_ms + START_SLACK_MS


def test_each_event_fires_once_per_turn_and_reset_listens_again(fsdd: Path) -> None:
    spoken = utterance(fsdd, "nicolas", 6, [3, 1])
    endpointer = Endpointer()
    first = events(endpointer, spoken.samples)
    again = events(endpointer, spoken.samples)  # Without reset the turn is over.
    assert [event for _, event in first] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]
    assert again == []
    endpointer.reset()
    assert events(endpointer, spoken.samples) == first


def test_an_endless_talker_is_cut_at_max_utterance(fsdd: Path) -> None:
    config = EndpointConfig(max_utterance_ms=1000)
    words = [_digit(fsdd, digit, "jackson", 0) for digit in (7, 7, 7, 7, 7, 7)]
    spoken = np.concatenate([audio.silence(500, RATE), *words, audio.silence(1000, RATE)])
    endpointer = Endpointer(config)
    found = events(endpointer, spoken)
    assert [event for _, event in found] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]
    onset = 500
    assert config.max_utterance_ms <= found[1][0] - onset <= config.max_utterance_ms + START_SLACK_MS
    assert not endpointer.speaking


def test_mulaw_keeps_real_speech_recognisable(fsdd: Path) -> None:
    for speaker in SPEAKERS:
        for index in INDICES:
            clean = _digit(fsdd, index % 10, speaker, index).astype(np.float64)
            coded = through_mulaw(clean.astype(np.int16)).astype(np.float64)
            error = coded - clean
            snr_db = 10 * np.log10(np.sum(clean**2) / np.sum(error**2))
            assert snr_db > 30, (speaker, index, snr_db)
            assert np.corrcoef(clean, coded)[0, 1] > 0.999


def test_frames_of_the_wrong_length_are_refused() -> None:
    endpointer = Endpointer()
    with pytest.raises(ValueError, match="160 samples"):
        endpointer.feed(np.zeros(80, dtype=np.int16))


@pytest.mark.parametrize(
    "bad",
    [
        {"frame_ms": 0},
        {"start_ms": 10},
        {"end_silence_ms": 0},
        {"speech_margin_db": 3.0, "continue_margin_db": 6.0},
    ],
)
def test_impossible_configs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EndpointConfig(**bad)


def test_reset_refuses_a_timeout_shorter_than_a_frame() -> None:
    with pytest.raises(ValueError, match="no_input_ms"):
        Endpointer().reset(no_input_ms=5)
