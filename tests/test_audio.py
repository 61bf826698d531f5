"""Pure audio helpers, checked with synthetic signals whose right answer is known."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from ivr.speech import audio

SOURCE_RATE = 22050
"""espeak-ng's native rate, the conversion the phone line does all day."""


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000) -> audio.Samples:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def steady(samples: audio.Samples, rate: int) -> audio.Samples:
    """The middle of a signal: drops the filter's start-up and tail transients."""
    edge = rate // 10
    return samples[edge:-edge]


def dominant_frequency(samples: audio.Samples, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def gain_db(before: audio.Samples, before_rate: int, after: audio.Samples, after_rate: int) -> float:
    level_in = audio.rms(steady(before, before_rate))
    level_out = max(audio.rms(steady(after, after_rate)), 1e-3)  # Fully removed reads as -140 dB.
    return 20 * float(np.log10(level_out / level_in))


def wav_bytes(frames: bytes, *, channels: int, width: int, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return buffer.getvalue()


def test_resampling_a_1khz_tone_keeps_its_frequency_and_energy() -> None:
    source = tone(1000, SOURCE_RATE)
    phone = audio.resample(source, SOURCE_RATE, 8000)
    assert phone.dtype == np.int16
    assert len(phone) == 8000
    assert dominant_frequency(steady(phone, 8000), 8000) == pytest.approx(1000, abs=10)
    assert gain_db(source, SOURCE_RATE, phone, 8000) == pytest.approx(0, abs=0.1)


def test_the_telephone_band_passes_nearly_unchanged() -> None:
    source = tone(3000, SOURCE_RATE)
    assert gain_db(source, SOURCE_RATE, audio.resample(source, SOURCE_RATE, 8000), 8000) > -1


@pytest.mark.parametrize(
    ("freq", "min_attenuation_db"),
    [
        (3900, 30),  # Just under the 4 kHz Nyquist limit: in the filter's transition band.
        (4500, 60),  # Would alias to 3.5 kHz, audible as a false tone.
        (6000, 60),  # Would alias to 2 kHz.
        (10000, 60),  # Sibilance region; would alias to 2 kHz.
    ],
)
def test_content_at_and_above_the_new_nyquist_is_removed(freq: int, min_attenuation_db: float) -> None:
    source = tone(freq, SOURCE_RATE)
    phone = audio.resample(source, SOURCE_RATE, 8000)
    assert gain_db(source, SOURCE_RATE, phone, 8000) < -min_attenuation_db


def test_upsampling_keeps_a_tone() -> None:
    source = tone(1000, 8000)
    wide = audio.resample(source, 8000, SOURCE_RATE)
    assert len(wide) == SOURCE_RATE
    assert dominant_frequency(steady(wide, SOURCE_RATE), SOURCE_RATE) == pytest.approx(1000, abs=10)
    assert gain_db(source, 8000, wide, SOURCE_RATE) == pytest.approx(0, abs=0.1)


def test_resampling_to_the_same_rate_or_nothing_is_a_copy() -> None:
    source = tone(440, 8000, 0.1)
    same = audio.resample(source, 8000, 8000)
    assert np.array_equal(same, source)
    assert same is not source
    assert audio.resample(np.array([], dtype=np.int16), SOURCE_RATE, 8000).size == 0


def test_resampling_rejects_nonsense_rates() -> None:
    with pytest.raises(ValueError):
        audio.resample(tone(440, 8000, 0.1), 0, 8000)


def test_wav_round_trip_is_exact_mono_16_bit() -> None:
    source = tone(440, 8000, 0.25)
    data = audio.encode_wav(source, 8000)
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 8000)
        assert reader.getnframes() == len(source)
    decoded, rate = audio.decode_wav(data)
    assert rate == 8000
    assert decoded.dtype == np.int16
    assert np.array_equal(decoded, source)


def test_encoding_clips_instead_of_wrapping() -> None:
    decoded, _ = audio.decode_wav(audio.encode_wav(np.array([40000.0, -40000.0, 1.4]), 8000))
    assert decoded.tolist() == [32767, -32768, 1]


def test_stereo_is_downmixed_by_averaging_the_channels() -> None:
    left = np.array([1000, -2000, 3000, 32767], dtype="<i2")
    right = np.array([3000, 2000, -3000, 32767], dtype="<i2")
    frames = np.column_stack([left, right]).reshape(-1).tobytes()
    decoded, rate = audio.decode_wav(wav_bytes(frames, channels=2, width=2, rate=44100))
    assert rate == 44100
    assert decoded.tolist() == [2000, 0, 0, 32767]


def test_8_bit_unsigned_wav_is_centred_and_scaled() -> None:
    frames = bytes([128, 255, 0])
    decoded, _ = audio.decode_wav(wav_bytes(frames, channels=1, width=1, rate=8000))
    assert decoded.tolist() == [0, 127 * 256, -128 * 256]


def test_24_bit_wav_keeps_its_top_16_bits() -> None:
    frames = (0x123456).to_bytes(3, "little") + (-0x123456 & 0xFFFFFF).to_bytes(3, "little")
    decoded, _ = audio.decode_wav(wav_bytes(frames, channels=1, width=3, rate=8000))
    assert decoded.tolist() == [0x1234, -0x1235]  # Arithmetic shift rounds towards -inf.


@pytest.mark.parametrize("data", [b"", b"not a wav file at all", b"RIFF\x00\x00"])
def test_garbage_is_a_wav_format_error(data: bytes) -> None:
    with pytest.raises(audio.WavFormatError):
        audio.decode_wav(data)


def test_rms_and_silence() -> None:
    assert audio.rms(np.array([3, -3, 3, -3])) == pytest.approx(3)
    assert audio.rms(np.array([], dtype=np.int16)) == 0.0
    assert audio.rms(tone(1000, 8000)) == pytest.approx(10000 / np.sqrt(2), rel=1e-3)
    quiet = audio.silence(150, 8000)
    assert quiet.dtype == np.int16
    assert len(quiet) == 1200
    assert audio.rms(quiet) == 0.0


def test_trim_silence_keeps_a_margin_around_the_sound() -> None:
    sound = tone(1000, 8000, 0.5)
    padded = np.concatenate([audio.silence(300, 8000), sound, audio.silence(300, 8000)])
    trimmed = audio.trim_silence(padded, 8000, margin_ms=20)
    assert len(sound) <= len(trimmed) <= len(sound) + 2 * 160 + 2
    assert audio.trim_silence(audio.silence(100, 8000), 8000).size == 0
