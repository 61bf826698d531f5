"""The local synthesiser (real pyttsx3 + espeak-ng, no mocks) and the prompt audio cache.

Each test that speaks starts its own worker process (~0.2 s), so a failure in
one cannot leave a confused engine behind for the next.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from ivr.speech import audio
from ivr.speech.cache import PromptAudioCache
from ivr.speech.tts import (
    MAX_CHUNK_CHARS,
    Pyttsx3Synthesizer,
    SynthesisError,
    SynthesisErrorCode,
    Synthesizer,
    assemble_chunks,
    split_for_synthesis,
)

pytestmark = pytest.mark.inprocess

SHORT = "Hello, thanks for calling."
LONG = (
    "Thank you for calling the after sales support line. Calls may be recorded for quality. "
    "If you are calling about an order, please have your order number ready; you will find it "
    "on your receipt, in the confirmation email, and on the delivery note inside the parcel. "
    "To track a delivery, press one. To return an item, press two. For a refund, press three. "
    "To speak to someone on our team, press zero."
)
SECRET = b"test secret, 32 bytes long......"


def parse_wav(data: bytes) -> tuple[wave._wave_params, audio.Samples]:
    with wave.open(io.BytesIO(data)) as reader:
        params = reader.getparams()
    samples, _ = audio.decode_wav(data)
    return params, samples


def longest_silence_seconds(samples: audio.Samples, rate: int) -> float:
    """Longest stretch of near-silence: a lost chunk shows up as a long hole."""
    quiet = np.abs(samples.astype(np.int32)) < 64
    longest = current = 0
    for is_quiet in quiet:
        current = current + 1 if is_quiet else 0
        longest = max(longest, current)
    return longest / rate


class CountingSynthesizer:
    """Decorates a real synthesiser, counting how often the cache asks it for audio."""

    def __init__(self, inner: Synthesizer) -> None:
        self.inner = inner
        self.calls: list[str] = []

    @property
    def voice_key(self) -> str:
        return self.inner.voice_key

    async def synthesize(self, text: str) -> bytes:
        self.calls.append(text)
        return await self.inner.synthesize(text)


class FailingSynthesizer:
    """A synthesiser whose engine always fails, as a broken install would."""

    voice_key = "failing"

    def __init__(self) -> None:
        self.calls = 0

    async def synthesize(self, text: str) -> bytes:
        self.calls += 1
        raise SynthesisError(SynthesisErrorCode.EMPTY_AUDIO, "engine wrote no file")


class GarbageSynthesizer:
    """A synthesiser that returns something that is not audio."""

    voice_key = "garbage"

    async def synthesize(self, text: str) -> bytes:
        return b"RIFF but not really"


@pytest.fixture
async def tts() -> AsyncIterator[Pyttsx3Synthesizer]:
    async with Pyttsx3Synthesizer() as synthesizer:
        yield synthesizer


# ------------------------------------------------------------------ splitting and assembly


def test_split_keeps_sentences_whole_and_every_chunk_short() -> None:
    chunks = split_for_synthesis(LONG)
    assert len(LONG) > 300
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)
    assert " ".join(chunks) == LONG
    assert chunks[0] == (
        "Thank you for calling the after sales support line. Calls may be recorded for quality."
    )


def test_split_never_packs_part_of_a_long_sentence_with_its_neighbours() -> None:
    long_sentence = "This sentence is long, " * 5 + "and it ends here."
    chunks = split_for_synthesis(f"Short one. {long_sentence} Another short one.", limit=60)
    assert chunks[0] == "Short one."
    assert chunks[-1] == "Another short one."
    assert " ".join(chunks[1:-1]) == long_sentence


def test_split_falls_back_to_clauses_then_words_then_characters() -> None:
    clauses = "one two three, " * 20
    assert all(chunk.endswith(",") for chunk in split_for_synthesis(clauses, limit=40))
    words = "word " * 50
    assert all(len(chunk) <= 23 for chunk in split_for_synthesis(words, limit=23))
    assert split_for_synthesis("x" * 100, limit=40) == ["x" * 40, "x" * 40, "x" * 20]


def test_split_drops_what_cannot_be_spoken() -> None:
    assert split_for_synthesis("  \n\t ") == []
    assert split_for_synthesis("... !!! ???", limit=4) == []
    assert split_for_synthesis("  Press\n one.  ") == ["Press one."]


def test_assembly_never_turns_a_failed_chunk_into_silence() -> None:
    speech_like = audio.encode_wav(np.rint(3000 * np.sin(np.arange(8000) / 3)), 22050)
    silent = audio.encode_wav(audio.silence(500, 22050), 22050)
    cases = [
        (None, SynthesisErrorCode.EMPTY_AUDIO),
        (audio.encode_wav(np.array([], dtype=np.int16), 22050), SynthesisErrorCode.EMPTY_AUDIO),
        (silent, SynthesisErrorCode.SILENT_AUDIO),
        (b"garbage", SynthesisErrorCode.ENGINE_FAILED),
    ]
    for bad, code in cases:
        with pytest.raises(SynthesisError) as failure:
            assemble_chunks(["One.", "Two."], [speech_like, bad])
        assert failure.value.code == code


def test_assembly_pauses_longer_after_a_sentence_than_mid_sentence() -> None:
    speech_like = audio.encode_wav(np.rint(3000 * np.sin(np.arange(8000) / 3)), 8000)
    after_sentence, _ = audio.decode_wav(assemble_chunks(["One.", "Two"], [speech_like] * 2))
    mid_sentence, _ = audio.decode_wav(assemble_chunks(["One,", "two"], [speech_like] * 2))
    assert len(after_sentence) - len(mid_sentence) == 200 * 8  # 350 ms versus 150 ms.


# ------------------------------------------------------------------ the real engine


async def test_short_text_gives_a_phone_ready_wav(tts: Pyttsx3Synthesizer) -> None:
    params, samples = parse_wav(await tts.synthesize(SHORT))
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000)
    assert 0.8 < len(samples) / 8000 < 4.0
    assert audio.rms(samples) > 500


async def test_text_longer_than_the_engine_bug_is_spoken_completely(tts: Pyttsx3Synthesizer) -> None:
    assert len(LONG) > 2 * 150
    _, short = parse_wav(await tts.synthesize(SHORT))
    params, long = parse_wav(await tts.synthesize(LONG))
    assert params.framerate == 8000
    # ~60 words at 165 words per minute is about 20 s; a lost chunk would cost 5 s or more.
    assert len(long) / 8000 > 15
    assert len(long) > 5 * len(short)
    assert audio.rms(long) > 500
    assert longest_silence_seconds(long, 8000) < 0.6


async def test_the_speaking_rate_is_applied() -> None:
    async with Pyttsx3Synthesizer(rate=120) as slow, Pyttsx3Synthesizer(rate=240) as fast:
        _, slow_audio = parse_wav(await slow.synthesize(LONG))
        _, fast_audio = parse_wav(await fast.synthesize(LONG))
    assert len(slow_audio) > 1.6 * len(fast_audio)
    assert slow.voice_key != fast.voice_key


@pytest.mark.parametrize("text", ["", "   \n", "?!"])
async def test_nothing_speakable_is_an_error(tts: Pyttsx3Synthesizer, text: str) -> None:
    with pytest.raises(SynthesisError) as failure:
        await tts.synthesize(text)
    assert failure.value.code == SynthesisErrorCode.EMPTY_TEXT


async def test_voices_are_found_by_short_id_and_unknown_ones_fail_at_start() -> None:
    async with Pyttsx3Synthesizer(voice="en-us") as american:
        _, samples = parse_wav(await american.synthesize(SHORT))
        assert audio.rms(samples) > 500
    async with Pyttsx3Synthesizer(voice="no-such-voice") as missing:
        with pytest.raises(SynthesisError) as failure:
            await missing.synthesize(SHORT)
    assert failure.value.code == SynthesisErrorCode.UNKNOWN_VOICE


async def test_a_slow_engine_times_out_instead_of_hanging() -> None:
    async with Pyttsx3Synthesizer(timeout=0.001) as impatient:
        started = time.monotonic()
        for _ in range(2):  # The killed worker is replaced, and times out again.
            with pytest.raises(SynthesisError) as failure:
                await impatient.synthesize(SHORT)
            assert failure.value.code == SynthesisErrorCode.TIMEOUT
    assert time.monotonic() - started < 5


async def test_cancelled_synthesis_does_not_confuse_the_next_one(tts: Pyttsx3Synthesizer) -> None:
    _, reference = parse_wav(await tts.synthesize(SHORT))
    task = asyncio.create_task(tts.synthesize(LONG))
    await asyncio.sleep(0.03)  # Mid-way through the long text's chunks.
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # A confused worker would answer with the long text's audio, or none.
    # (espeak-ng renders vary by a few samples from call to call, so compare lengths.)
    _, after = parse_wav(await tts.synthesize(SHORT))
    assert len(after) == pytest.approx(len(reference), rel=0.05)
    assert audio.rms(after) > 500


async def test_the_event_loop_stays_responsive_while_speaking(tts: Pyttsx3Synthesizer) -> None:
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        await tts.synthesize(LONG)
    finally:
        ticking.cancel()
    assert len(gaps) >= 5
    assert max(gaps) < 0.1


async def test_engine_chatter_does_not_reach_stdout(
    tts: Pyttsx3Synthesizer, capfd: pytest.CaptureFixture[str]
) -> None:
    await tts.synthesize(SHORT)
    assert "Audio saved" not in capfd.readouterr().out


# ------------------------------------------------------------------ the prompt audio cache


async def test_cache_synthesises_each_text_once(tts: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    counting = CountingSynthesizer(tts)
    cache = PromptAudioCache(tmp_path / "audio", counting, SECRET)
    first = await cache.audio_id(SHORT)
    again = await asyncio.gather(*(cache.audio_id(SHORT) for _ in range(3)))
    assert again == [first] * 3
    assert counting.calls == [SHORT]
    assert len(first) == 32
    assert first == first.lower()
    int(first, 16)
    path = cache.path_for(first)
    assert path == tmp_path / "audio" / f"{first}.wav"
    params, samples = parse_wav(path.read_bytes())
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000)
    assert audio.rms(samples) > 500


async def test_concurrent_requests_share_one_synthesis(tts: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    counting = CountingSynthesizer(tts)
    cache = PromptAudioCache(tmp_path, counting, SECRET)
    ids = await asyncio.gather(*(cache.audio_id(SHORT) for _ in range(4)))
    assert len(set(ids)) == 1
    assert counting.calls == [SHORT]
    assert os.listdir(tmp_path) == [f"{ids[0]}.wav"]  # No temporary files left behind.


async def test_different_text_voice_or_secret_gives_a_different_id(
    tts: Pyttsx3Synthesizer, tmp_path: Path
) -> None:
    cache = PromptAudioCache(tmp_path, tts, SECRET)
    assert await cache.audio_id(SHORT) != await cache.audio_id("Goodbye.")
    other_secret = PromptAudioCache(tmp_path, tts, b"another installation's secret...")
    assert other_secret.id_for(SHORT) != cache.id_for(SHORT)
    other_voice = PromptAudioCache(tmp_path, Pyttsx3Synthesizer(rate=200), SECRET)
    assert other_voice.id_for(SHORT) != cache.id_for(SHORT)


def test_path_for_accepts_only_ids_of_cached_files(tmp_path: Path) -> None:
    cache = PromptAudioCache(tmp_path / "audio", FailingSynthesizer(), SECRET)
    (tmp_path / "audio").mkdir()
    (tmp_path / "secret.txt").write_text("do not serve")
    valid = "0123456789abcdef0123456789abcdef"
    (tmp_path / "audio" / f"{valid}.wav").write_bytes(b"stand-in")
    assert cache.path_for(valid) == tmp_path / "audio" / f"{valid}.wav"
    for bad in [
        "../etc/passwd",
        "../secret.txt",
        valid.upper(),
        valid[:-1],
        valid + "0",
        f"{valid}.wav",
        "0123456789abcdef0123456789abcdeg",
        "",
        "fedcba9876543210fedcba9876543210",  # Well formed but not cached.
    ]:
        assert cache.path_for(bad) is None, bad


async def test_failed_synthesis_caches_nothing_and_is_retried(tmp_path: Path) -> None:
    failing = FailingSynthesizer()
    cache = PromptAudioCache(tmp_path, failing, SECRET)
    for attempt in (1, 2):
        with pytest.raises(SynthesisError) as failure:
            await cache.audio_id(SHORT)
        assert failure.value.code == SynthesisErrorCode.EMPTY_AUDIO
        assert failing.calls == attempt
    assert os.listdir(tmp_path) == []
    assert cache.path_for(cache.id_for(SHORT)) is None


async def test_audio_that_is_not_a_wav_is_rejected_not_stored(tmp_path: Path) -> None:
    cache = PromptAudioCache(tmp_path, GarbageSynthesizer(), SECRET)
    with pytest.raises(SynthesisError) as failure:
        await cache.audio_id(SHORT)
    assert failure.value.code == SynthesisErrorCode.ENGINE_FAILED
    assert os.listdir(tmp_path) == []


def test_an_empty_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        PromptAudioCache(tmp_path, FailingSynthesizer(), b"")
