"""Hold music made here: a calm chord loop for callers waiting for an agent.

A caller in the queue must hear that the line is alive, without a beep that grates
after a minute or a track someone has to license. This is a slow I-vi-IV-V progression
in C (Cmaj7, Am7, Fmaj7, G7): soft pad chords with a gentle plucked arpeggio on top,
every partial inside the telephone band (300-3400 Hz, so nothing aliases at 8 kHz or
is lost by the line). Notes are rendered on a circular buffer (a note's tail wraps to
the start), so the loop has no seam: Twilio's ``<Play loop="0">`` repeats it without a
click. The content is a pure function of the code, so the file is written once and
never changes under a cached URL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.speech import audio
from ivr.speech.cache import write_file_atomically

RATE = 8000
"""Telephone rate: what Twilio ``<Play>`` and Media Streams carry."""

CHORD_SECONDS = 2.0
BEATS_PER_CHORD = 4
LOOP_SECONDS = CHORD_SECONDS * 4
"""Four chords of two seconds: long enough not to feel like a beep, short to serve."""

PEAK = 12000
"""Loudest sample (about -9 dBFS): clearly audible, far from clipping, below speech prompts."""

BAND_TOP_HZ = 3400.0
"""Highest partial kept; the telephone band ends here and 4 kHz is the Nyquist limit."""

_PROGRESSION: tuple[tuple[int, ...], ...] = (
    (60, 64, 67, 71),  # Cmaj7: C4 E4 G4 B4
    (64, 67, 69, 72),  # Am7:   E4 G4 A4 C5
    (65, 69, 72, 76),  # Fmaj7: F4 A4 C5 E5
    (62, 65, 67, 71),  # G7:    D4 F4 G4 B4
)
"""MIDI notes of each chord, voiced above middle C where phones carry sound well."""

_ARPEGGIO = (0, 1, 2, 1)
"""Which chord tone (an octave up) each beat plucks: up and back, like a music box."""

_PAD_ATTACK = 0.3
_PAD_RELEASE = 0.7
_PAD_OVERLAP = 0.4
"""Seconds a chord rings into the next one, so changes crossfade instead of cutting."""

_PLUCK_SECONDS = 1.2
_PLUCK_ATTACK = 0.01
_PLUCK_DECAY = 0.35
"""Time constant (s) of the pluck's exponential decay."""
_PLUCK_LEVEL = 0.6
"""A pluck's level against one pad note; it carries the tune without standing out."""


def hold_music() -> audio.Samples:
    """One loop of hold music: mono int16 at `RATE`, starting and ending without a jump."""
    total = round(LOOP_SECONDS * RATE)
    loop = np.zeros(total, dtype=np.float64)
    chord_len = round(CHORD_SECONDS * RATE)
    beat_len = chord_len // BEATS_PER_CHORD
    for index, chord in enumerate(_PROGRESSION):
        start = index * chord_len
        for note in chord:
            _add_wrapped(loop, start, _pad(_hz(note), CHORD_SECONDS + _PAD_OVERLAP))
        for beat, tone in enumerate(_ARPEGGIO):
            _add_wrapped(loop, start + beat * beat_len, _PLUCK_LEVEL * _pluck(_hz(chord[tone] + 12)))
    scaled = loop * (PEAK / float(np.max(np.abs(loop))))
    return np.rint(scaled).astype(np.int16)


def hold_music_wav() -> bytes:
    """`hold_music` as a complete 8 kHz mono 16-bit PCM WAV file."""
    return audio.encode_wav(hold_music(), RATE)


def write_hold_music(path: Path) -> Path:
    """Write the hold music WAV to `path` (atomically) unless it is already there; returns `path`.

    Blocking file I/O: call it at start-up or through `asyncio.to_thread`. An identical
    file is left alone, so restarts do not touch a file that may be being served.
    """
    data = hold_music_wav()
    if path.is_file() and path.read_bytes() == data:
        return path
    write_file_atomically(path, data)
    return path


def _hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _partials(freq: float, seconds: float, weights: dict[int, float]) -> npt.NDArray[np.float64]:
    """A tone from harmonics (number -> weight), dropping any above the telephone band."""
    t = np.arange(round(seconds * RATE)) / RATE
    wave = np.zeros_like(t)
    for harmonic, weight in weights.items():
        if harmonic * freq <= BAND_TOP_HZ:
            wave += weight * np.sin(2 * np.pi * harmonic * freq * t)
    return wave


def _ramp(length: int) -> npt.NDArray[np.float64]:
    """A raised-cosine rise from 0 to 1: smooth, so an onset does not click."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(length) / max(length, 1))


def _pad(freq: float, seconds: float) -> npt.NDArray[np.float64]:
    """A soft sustained note: sine with a touch of the 2nd and 3rd harmonics, faded in and out."""
    tone = _partials(freq, seconds, {1: 1.0, 2: 0.12, 3: 0.05})
    attack, release = round(_PAD_ATTACK * RATE), round(_PAD_RELEASE * RATE)
    envelope = np.ones_like(tone)
    envelope[:attack] = _ramp(attack)
    envelope[-release:] = _ramp(release)[::-1]
    return tone * envelope


def _pluck(freq: float) -> npt.NDArray[np.float64]:
    """A music-box note: band-limited triangle, quick rise, exponential decay to silence."""
    tone = _partials(freq, _PLUCK_SECONDS, {1: 1.0, 3: -1 / 9, 5: 1 / 25})
    t = np.arange(tone.size) / RATE
    envelope = np.exp(-t / _PLUCK_DECAY)
    attack, tail = round(_PLUCK_ATTACK * RATE), round(0.1 * RATE)
    envelope[:attack] *= _ramp(attack)
    envelope[-tail:] *= _ramp(tail)[::-1]
    return tone * envelope


def _add_wrapped(loop: npt.NDArray[np.float64], start: int, sound: npt.NDArray[np.float64]) -> None:
    """Mix `sound` into `loop` at `start`; what runs past the end continues from the start."""
    loop[(start + np.arange(sound.size)) % loop.size] += sound
