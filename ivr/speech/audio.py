"""Pure audio helpers: WAV decode/encode, resampling, levels and silence.

Everything here works on in-memory data (bytes and numpy arrays) so it can be
tested with synthetic signals and reused by any engine. Samples are always
mono ``int16`` arrays; this is what phones and Twilio ``<Play>`` consume
(8 kHz, 16-bit PCM), so keeping one representation avoids format drift between
modules.
"""

from __future__ import annotations

import io
import math
import wave
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]
"""Mono signed 16-bit PCM samples."""

_INT16_MIN = -32768
_INT16_MAX = 32767

_PASSBAND = 0.9
"""Fraction of the lower Nyquist frequency kept by the anti-alias filter.

At 8 kHz output the -6 dB point is 3.6 kHz: above the 3.4 kHz telephone band,
and leaves 0.4 kHz of transition band so the filter is fully in its stop band
at 4 kHz, where anything left would fold back into the speech band.
"""

_STOPBAND_DB = 80.0
"""Attenuation designed for the stop band; well below what 16-bit phone audio can resolve."""

_CHUNK_OUTPUTS = 4096
"""Output samples computed per vectorised step, to bound temporary memory."""


class WavFormatError(ValueError):
    """The bytes are not a PCM WAV file this module can read."""


def decode_wav(data: bytes) -> tuple[Samples, int]:
    """Decode a PCM WAV file to mono int16 samples and its sample rate.

    Engines and uploaded prompts come in 8-, 16-, 24- or 32-bit PCM, mono or
    stereo; everything downstream wants one format, so conversion happens once
    here. Channels are averaged (not just the left one taken) so a prompt
    panned to one side is not lost.

    Raises:
        WavFormatError: the data is not a readable PCM WAV file.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"not a PCM WAV file: {exc}") from exc
    if rate <= 0:
        raise WavFormatError(f"invalid sample rate {rate}")
    wide = _pcm_to_int32(frames, width)
    usable = len(wide) - len(wide) % channels
    per_channel = wide[:usable].reshape(-1, channels)
    mono = per_channel.mean(axis=1) if channels > 1 else per_channel[:, 0]
    return _to_int16(mono), rate


def _pcm_to_int32(frames: bytes, width: int) -> npt.NDArray[np.int32]:
    """Widen little-endian PCM of any supported width to int32 on the int16 scale."""
    if width == 1:  # 8-bit WAV is unsigned, centred on 128.
        raw = np.frombuffer(frames, dtype=np.uint8).astype(np.int32)
        return (raw - 128) << 8
    if width == 2:
        return np.frombuffer(frames, dtype="<i2").astype(np.int32)
    if width == 3:
        usable = len(frames) - len(frames) % 3
        triples = np.frombuffer(frames[:usable], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value & 0x800000, value - (1 << 24), value)
        return value >> 8
    if width == 4:
        return np.frombuffer(frames, dtype="<i4") >> 16
    raise WavFormatError(f"unsupported sample width: {width} bytes")


def encode_wav(samples: npt.ArrayLike, rate: int) -> bytes:
    """Encode samples as a complete mono 16-bit PCM WAV file.

    Values outside the int16 range are clipped rather than wrapped, because
    wrapping turns a loud peak into a full-scale click.
    """
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    pcm = _to_int16(np.asarray(samples))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def rms(samples: npt.ArrayLike) -> float:
    """Root-mean-square level on the int16 scale (0 to 32767); 0.0 for no samples.

    Used to tell speech (typically in the thousands) from silence, which is
    how a synthesiser that silently produced nothing is caught.
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(values * values)))


def silence(ms: float, rate: int) -> Samples:
    """Digital silence lasting ``ms`` milliseconds at ``rate``, rounded to whole samples."""
    if ms < 0 or rate <= 0:
        raise ValueError(f"need ms >= 0 and rate > 0, got ms={ms} rate={rate}")
    return np.zeros(round(ms * rate / 1000), dtype=np.int16)


def trim_silence(samples: Samples, rate: int, threshold: int = 64, margin_ms: float = 20) -> Samples:
    """Drop leading and trailing samples quieter than ``threshold``, keeping a short margin.

    Engines pad each utterance with their own silence (espeak-ng adds about
    240 ms at the end); trimming before joining chunks lets the joiner decide
    the length of the pause instead of stacking paddings.
    """
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples[:0]
    margin = round(margin_ms * rate / 1000)
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, len(samples))
    return samples[start:end]


def resample(samples: npt.ArrayLike, src_rate: int, dst_rate: int) -> Samples:
    """Resample mono audio from ``src_rate`` to ``dst_rate`` with band-limited interpolation.

    Each output sample is a windowed-sinc (Kaiser) low-pass FIR evaluated at
    the output instant: the filter removes everything above the lower of the
    two Nyquist frequencies (the anti-alias step), and evaluating it at
    fractional positions is the interpolation. Plain decimation or linear
    interpolation would fold the 4-11 kHz sibilance of 22.05 kHz speech back
    into the 8 kHz phone band as hiss.

    For a rational ratio ``L/M`` the output instants fall on only ``L``
    distinct fractional offsets, so the filter is tabulated once per phase and
    cached per ratio.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
    source = np.asarray(samples, dtype=np.float64).reshape(-1)
    if src_rate == dst_rate or source.size == 0:
        return _to_int16(source)
    common = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // common, src_rate // common
    table = _polyphase_table(up, down)
    half = table.shape[1] // 2
    n_out = (source.size * up + down - 1) // down
    padded = np.concatenate([np.zeros(half), source, np.zeros(half + 1)])
    offsets = np.arange(table.shape[1])
    output = np.empty(n_out, dtype=np.float64)
    for first in range(0, n_out, _CHUNK_OUTPUTS):
        position = np.arange(first, min(first + _CHUNK_OUTPUTS, n_out), dtype=np.int64) * down
        base, phase = np.divmod(position, up)
        # Tap j multiplies input sample base - half + 1 + j, which sits in `padded` at base + 1 + j.
        window = padded[base[:, None] + 1 + offsets[None, :]]
        output[first : first + base.size] = np.einsum("ij,ij->i", window, table[phase])
    return _to_int16(output)


@lru_cache(maxsize=16)
def _polyphase_table(up: int, down: int) -> npt.NDArray[np.float64]:
    """Windowed-sinc taps for every fractional phase of an ``up/down`` resampler.

    Row ``p`` holds the filter for an output instant ``p/up`` input samples
    past an input sample. The kernel length follows the Kaiser design rule for
    the wanted stop band and transition width; each row is normalised to unit
    DC gain so no phase is louder than another (which would add a ripple at
    the output rate).
    """
    scale = min(1.0, up / down)  # Cutoff relative to the input Nyquist.
    cutoff = _PASSBAND * scale / 2  # Cycles per input sample at the -6 dB point.
    transition = (1 - _PASSBAND) * scale  # Full width, cycles per input sample.
    taps = math.ceil((_STOPBAND_DB - 7.95) / (14.36 * transition)) + 1
    half = taps // 2 + 1
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    # Distance (in input samples) from the output instant to each tap's input sample.
    phases = np.arange(up, dtype=np.float64)[:, None] / up
    distance = phases + (half - 1) - np.arange(2 * half, dtype=np.float64)[None, :]
    reach = float(half)
    inside = np.clip(1 - (distance / reach) ** 2, 0.0, None)
    window = np.i0(beta * np.sqrt(inside)) / np.i0(beta)
    kernel = 2 * cutoff * np.sinc(2 * cutoff * distance) * window
    table: npt.NDArray[np.float64] = kernel / kernel.sum(axis=1, keepdims=True)
    table.setflags(write=False)
    return table


def _to_int16(values: npt.NDArray[Any]) -> Samples:
    """Round and clip any numeric array to int16 (always a new array, never a view)."""
    if values.dtype == np.int16:
        return values.astype(np.int16, copy=True)
    rounded = np.rint(np.asarray(values, dtype=np.float64))
    return np.clip(rounded, _INT16_MIN, _INT16_MAX).astype(np.int16)


# G.711 mu-law, the codec of Twilio Media Streams (``audio/x-mulaw``, 8 kHz, one byte a sample).

_ULAW_BIAS = 0x84
"""Added to the magnitude so every segment boundary falls on a power of two (G.711)."""

_ULAW_CLIP = 32635
"""Largest magnitude that still fits the top segment once the bias is added (32635 + 132 = 32767)."""


def _ulaw_segment_table() -> npt.NDArray[np.int32]:
    """Segment (exponent) for each value of ``biased >> 7``: the position of its highest set bit."""
    index = np.arange(256)
    table = np.zeros(256, dtype=np.int32)
    table[1:] = np.floor(np.log2(index[1:])).astype(np.int32)
    return table


_ULAW_SEGMENT = _ulaw_segment_table()


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    """The 256 linear values G.711 defines, one per mu-law byte."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    table = np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)
    table.setflags(write=False)
    return table


_ULAW_DECODE = _ulaw_decode_table()


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode int16 samples as G.711 mu-law bytes, one byte per sample.

    This is the payload Twilio Media Streams expects for outbound audio
    (``audio/x-mulaw`` at 8 kHz); resample to 8 kHz first. It is the
    textbook CCITT algorithm (bias 0x84, clip at 32635, bits inverted so that
    silence is 0xFF), vectorised with numpy because ``audioop`` is deprecated
    and gone in Python 3.13. Values outside int16 are clipped first.
    """
    pcm = _to_int16(np.asarray(samples).reshape(-1)).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0x00)
    biased = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS
    exponent = _ULAW_SEGMENT[biased >> 7]
    mantissa = (biased >> (exponent + 3)) & 0x0F
    code: npt.NDArray[np.integer[Any]] = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> Samples:
    """Decode G.711 mu-law bytes (what Twilio sends for the caller's audio) to int16 samples.

    A lookup in the 256-entry table G.711 defines; the result is a new,
    writable array.
    """
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def frames(samples: Samples, rate: int, ms: float = 20) -> list[Samples]:
    """Split audio into consecutive frames of ``ms`` milliseconds; the last is padded with zeros.

    Media streams carry audio in fixed frames (20 ms, 160 samples at 8 kHz)
    and the endpointer counts time in frames, so every frame must be full
    length; padding with silence is what the line would carry anyway.
    """
    if ms <= 0 or rate <= 0:
        raise ValueError(f"need ms > 0 and rate > 0, got ms={ms} rate={rate}")
    size = round(ms * rate / 1000)
    if size < 1:
        raise ValueError(f"{ms} ms at {rate} Hz is shorter than one sample")
    pcm = np.asarray(samples, dtype=np.int16).reshape(-1)
    count = -(-pcm.size // size)
    padded = np.zeros(count * size, dtype=np.int16)
    padded[: pcm.size] = pcm
    return list(padded.reshape(count, size))
