"""Hold music: a phone-ready WAV that is audible, never clips, loops without a click, never changes."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ivr.speech import audio
from ivr.speech.holdmusic import RATE, hold_music, hold_music_wav, write_hold_music

pytestmark = pytest.mark.inprocess


def decoded(data: bytes) -> npt.NDArray[np.float64]:
    samples, rate = audio.decode_wav(data)
    assert rate == 8000
    return samples.astype(np.float64)


def peaks(segment: npt.NDArray[np.float64]) -> set[int]:
    """Frequencies (Hz, rounded) of the strong spectral peaks: the notes one would hear."""
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
    freqs = np.fft.rfftfreq(segment.size, 1 / RATE)
    strong = spectrum > 0.2 * spectrum.max()
    local_max = np.r_[False, (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:]), False]
    return {round(float(f)) for f in freqs[strong & local_max]}


def test_it_is_a_telephone_wav_of_a_few_seconds() -> None:
    with wave.open(io.BytesIO(hold_music_wav()), "rb") as reader:
        assert reader.getframerate() == 8000
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getcomptype() == "NONE"
        seconds = reader.getnframes() / reader.getframerate()
    assert 4 <= seconds <= 15


def test_it_is_audible_throughout_and_never_clips() -> None:
    samples = decoded(hold_music_wav())
    assert 1500 <= audio.rms(samples) <= 8000
    assert 6000 <= np.max(np.abs(samples)) <= 0.5 * 32767
    # No stretch of near silence: a caller on hold hearing nothing thinks the line dropped.
    quarter_seconds = samples[: samples.size // 2000 * 2000].reshape(-1, 2000)
    assert min(audio.rms(part) for part in quarter_seconds) > 1000


def test_it_is_music_not_a_beep() -> None:
    samples = decoded(hold_music_wav())
    chords = samples.reshape(4, -1)
    heard = [peaks(chord[chord.size // 8 : -chord.size // 8]) for chord in chords]
    assert all(len(notes) >= 3 for notes in heard), heard  # chords, not a single tone
    assert all(a != b for a, b in zip(heard, heard[1:] + heard[:1], strict=True)), heard  # chords change


def test_everything_is_inside_the_telephone_band() -> None:
    samples = decoded(hold_music_wav())
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    assert power[freqs > 3400].sum() < 1e-4 * power.sum()  # nothing that would alias or hiss
    assert power[freqs < 200].sum() < 1e-3 * power.sum()  # nothing the line would swallow (or hum)


def test_the_loop_seam_is_as_smooth_as_the_music() -> None:
    samples = decoded(hold_music_wav())
    steps = np.abs(np.diff(samples))
    seam = abs(samples[0] - samples[-1])
    assert seam <= np.percentile(steps, 90), (seam, np.percentile(steps, 90))
    # The first and last 10 ms join into one smooth stretch: no click at the repeat.
    joined = np.concatenate([samples[-80:], samples[:80]])
    assert np.max(np.abs(np.diff(joined))) <= np.max(steps)
    assert abs(np.mean(samples)) < 50  # no DC offset that would thump at each repeat


def test_the_content_is_the_same_every_time() -> None:
    assert np.array_equal(hold_music(), hold_music())
    assert hold_music_wav() == hold_music_wav()


def test_write_creates_folders_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "audio" / "hold" / "music.wav"
    assert write_hold_music(target) == target
    assert target.read_bytes() == hold_music_wav()
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_a_current_file_is_left_alone(tmp_path: Path) -> None:
    target = write_hold_music(tmp_path / "hold.wav")
    before = target.stat()
    write_hold_music(target)
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_stale_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "hold.wav"
    target.write_bytes(b"an old, shorter recording")
    with target.open("rb") as being_served:
        write_hold_music(target)
        # A reader that had the old file open still reads all of it: the new file was
        # renamed into place, never written over the old one.
        assert being_served.read() == b"an old, shorter recording"
    assert target.read_bytes() == hold_music_wav()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hold.wav"]
