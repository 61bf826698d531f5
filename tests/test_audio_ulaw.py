"""G.711 mu-law and fixed framing: the wire format of Twilio Media Streams, checked against G.711 itself."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.speech import audio

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)


def reference_ulaw(sample: int) -> int:
    """The CCITT G.711 encoder, one sample at a time, as published in C (bias 0x84, clip 32635)."""
    sign = 0x80 if sample < 0 else 0x00
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        (0, 0xFF),  # Silence is all ones on the wire.
        (32767, 0x80),  # Largest positive.
        (32635, 0x80),
        (-32768, 0x00),  # Largest negative.
        (-32635, 0x00),
        (1, 0xFF),
        (-1, 0x7F),  # Negative zero.
        (8, 0xFE),  # First step of the first segment.
        (123, 0xF0),  # Last value of the first segment (123 + bias 132 = 255).
        (-123, 0x70),
        (124, 0xEF),  # First of the second, where the step doubles to 16.
        (1000, 0xCE),
    ],
)
def test_encode_matches_g711(sample: int, code: int) -> None:
    assert audio.ulaw_encode(np.array([sample], dtype=np.int16)) == bytes([code])
    assert reference_ulaw(sample) == code


def test_encode_matches_the_reference_for_every_int16_value() -> None:
    expected = bytes(reference_ulaw(int(sample)) for sample in ALL_INT16)
    assert audio.ulaw_encode(ALL_INT16) == expected


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xFE, 8), (0xF0, 120), (0xEF, 132), (0x70, -120)],
)
def test_decode_matches_g711(code: int, sample: int) -> None:
    assert audio.ulaw_decode(bytes([code])).tolist() == [sample]


def test_decode_is_symmetric_and_monotonic() -> None:
    table = audio.ulaw_decode(bytes(range(256))).astype(np.int64)
    positive = table[0x80:][::-1]  # Codes 0xFF down to 0x80: 0 up to full scale.
    negative = table[:0x80][::-1]
    assert np.array_equal(negative, -positive)
    assert np.all(np.diff(positive) > 0)


def test_round_trip_error_is_within_half_a_step() -> None:
    """Each code decodes to the middle of its interval: error at most (|x| + bias) / 32 below the clip."""
    decoded = audio.ulaw_decode(audio.ulaw_encode(ALL_INT16)).astype(np.int64)
    original = ALL_INT16.astype(np.int64)
    error = np.abs(decoded - original)
    unclipped = np.abs(original) <= 32635
    assert np.all(error[unclipped] <= (np.abs(original[unclipped]) + 0x84) / 32)
    assert np.all(error[np.abs(original) <= 30] <= 4)  # Finest steps near silence.
    assert error.max() <= 32768 - 32124
    assert np.all(np.diff(decoded) >= 0)  # Louder in, never quieter out.


def test_decode_then_encode_gives_back_every_code_except_negative_zero() -> None:
    codes = bytes(range(256))
    again = audio.ulaw_encode(audio.ulaw_decode(codes))
    assert [a for a, b in zip(codes, again, strict=True) if a != b] == [0x7F]  # -0 encodes as +0.


def test_types_lengths_and_clipping() -> None:
    decoded = audio.ulaw_decode(b"\xff\x80\x00")
    assert decoded.dtype == np.int16 and decoded.flags.writeable
    assert audio.ulaw_decode(b"").size == 0
    assert audio.ulaw_encode(np.zeros(0, dtype=np.int16)) == b""
    assert audio.ulaw_encode(np.array([1e9, -1e9])) == b"\x80\x00"  # Clipped, not wrapped.
    assert len(audio.ulaw_encode(np.zeros(160, dtype=np.int16))) == 160


def test_frames_are_fixed_length_and_the_last_is_padded_with_silence() -> None:
    samples = np.arange(1, 401, dtype=np.int16)
    chunks = audio.frames(samples, 8000)
    assert [len(chunk) for chunk in chunks] == [160, 160, 160]
    assert np.array_equal(np.concatenate(chunks)[:400], samples)
    assert not chunks[-1][80:].any()
    assert all(chunk.dtype == np.int16 for chunk in chunks)


def test_frames_of_other_sizes_and_edge_cases() -> None:
    assert [len(chunk) for chunk in audio.frames(np.zeros(320, dtype=np.int16), 8000)] == [160, 160]
    assert [len(chunk) for chunk in audio.frames(np.zeros(100, dtype=np.int16), 16000, ms=10)] == [160]
    assert audio.frames(np.zeros(0, dtype=np.int16), 8000) == []
    with pytest.raises(ValueError):
        audio.frames(np.zeros(10, dtype=np.int16), 8000, ms=0)
    with pytest.raises(ValueError):
        audio.frames(np.zeros(10, dtype=np.int16), 8000, ms=0.01)
