"""Text-to-speech behind one narrow async interface, with a local pyttsx3/espeak-ng engine.

The call flow only needs "text in, phone-ready WAV out", so that is the whole
:class:`Synthesizer` protocol. :class:`Pyttsx3Synthesizer` runs pyttsx3 in a
dedicated worker *subprocess* rather than a thread, because pyttsx3 2.99 with
espeak-ng is hard to contain in-process:

* ``runAndWait()`` is not a reliable "done" signal. espeak-ng synthesises on its
  own thread; on an engine's first call ``runAndWait()`` returns after ~10 ms
  whether or not the file has been written (this is the "no audio for long
  texts" bug), and a ``runAndWait()`` with nothing queued never returns.
  Its internal ``stop()`` can also cancel the next utterance or a pending rate
  change; see :class:`ivr.speech.pyttsx3_worker._Engine` for the work-arounds.
* A hung engine cannot be interrupted from Python; a process can be killed.
* The driver ``print()``s "Audio saved to ..." from the engine thread; in a
  worker it goes to ``/dev/null`` instead of the server's stdout.
* espeak-ng keeps global state and can only be initialised once per process.

Each chunk's audio is checked (exists, has frames, is not silence) and any
failure raises :class:`SynthesisError`: a caller must never hear dead air
where a prompt should be.

Wire format between parent and worker, one JSON object per line::

    parent                                   worker
      | -- argv: {"voice", "rate", timeouts} ---> |  starts, renders a warm-up phrase
      | <- {"ok": true, "voice": "gmw/en"} ------ |
      | -- {"text": "...", "path": "/tmp/..."} -> |  save_to_file + wait for the engine
      | <- {"ok": true} or {"ok": false, "code", "detail"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypedDict

import numpy as np

from ivr.speech import audio

log = logging.getLogger(__name__)

OUTPUT_RATE = 8000
"""Sample rate of synthesised prompts: what Twilio ``<Play>`` and the phone network carry."""

MAX_CHUNK_CHARS = 140
"""Longest text handed to the engine at once.

pyttsx3 2.99 has been seen to write no audio for texts over ~150 characters.
The cause is the first-call race described in :meth:`ivr.speech.pyttsx3_worker._Engine.speak_to_file`
(how long a text has to be depends on machine speed), which the worker now
waits out; short chunks stay as a second line of defence, and they keep each
engine call, and so each timeout, short.
"""

CHUNK_PAUSE_MS = 150
"""Silence where two chunks are joined mid-sentence, about espeak-ng's own comma pause."""

SENTENCE_PAUSE_MS = 350
"""Silence after a chunk that ends a sentence, about espeak-ng's own pause between sentences."""

MIN_RATE, MAX_RATE = 80, 450
"""Speaking rates espeak-ng accepts (words per minute); it would clamp anything else."""

SILENCE_RMS = 50.0
"""Chunks quieter than this (int16 RMS) are treated as failed; speech is ~3000."""

_RENDER_VERSION = "1"
"""Bump when chunking, pausing or resampling changes, so cached prompts are re-rendered."""

_SENTENCE_END = (".", "!", "?", "…")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")
_WORD_BREAK = re.compile(r"\s+")

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
"""Put on the worker's ``PYTHONPATH`` so it can import this module from a source checkout."""

_WORKER_BOOT = (
    "import sys; from ivr.speech.pyttsx3_worker import worker_main; sys.exit(worker_main(sys.argv[1:]))"
)


class SynthesisErrorCode(StrEnum):
    """Stable codes for logs, metrics and the operator console; never reword them."""

    EMPTY_TEXT = "tts_empty_text"
    """Nothing speakable was given (empty, whitespace or punctuation only)."""
    EMPTY_AUDIO = "tts_empty_audio"
    """The engine produced no file or a file with no frames."""
    SILENT_AUDIO = "tts_silent_audio"
    """The engine produced audio, but it is silence."""
    ENGINE_FAILED = "tts_engine_failed"
    """The engine or its worker process reported an error, crashed or wrote garbage."""
    UNKNOWN_VOICE = "tts_unknown_voice"
    """The configured voice is not installed."""
    TIMEOUT = "tts_timeout"
    """The engine did not answer in time; its worker was killed."""


class SynthesisError(Exception):
    """Synthesis failed; ``code`` is a stable :class:`SynthesisErrorCode` value."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        """Stable machine-readable reason, e.g. ``"tts_timeout"``."""
        self.detail = detail
        """Human-readable context for logs; may change between versions."""


class Synthesizer(Protocol):
    """Turns text into a complete WAV file: 8 kHz, mono, 16-bit PCM."""

    @property
    def voice_key(self) -> str:
        """Identifies everything that changes the audio (engine, voice, rate, format).

        Caches key on it, so two synthesisers that sound different must never
        share a key.
        """
        ...

    async def synthesize(self, text: str) -> bytes:
        """Return the WAV bytes for ``text`` or raise :class:`SynthesisError`; never silence."""
        ...


def split_for_synthesis(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split text into chunks of at most ``limit`` characters at the most natural breaks.

    Whole sentences are packed into chunks; only a sentence longer than
    ``limit`` is split, at clauses (commas, semicolons, colons), then words,
    and a single word longer than ``limit`` is cut. A piece of a split sentence
    is never packed together with a neighbouring sentence, so every chunk
    boundary falls on the strongest break available and the pause inserted
    there sounds intended. Whitespace is normalised, and chunks with no
    letters or digits are dropped because engines render them as silence,
    which would then be reported as a failure.
    """
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    normalised = " ".join(text.split())
    if not normalised:
        return []
    chunks = _pack(normalised, limit, (_SENTENCE_BREAK, _CLAUSE_BREAK, _WORD_BREAK))
    return [chunk for chunk in chunks if any(char.isalnum() for char in chunk)]


def _pack(text: str, limit: int, breaks: Sequence[re.Pattern[str]]) -> list[str]:
    """Split ``text`` at ``breaks[0]`` and pack the parts greedily; recurse into oversize parts."""
    if len(text) <= limit:
        return [text]
    if not breaks:
        return [text[start : start + limit] for start in range(0, len(text), limit)]
    chunks: list[str] = []
    current = ""
    for part in breaks[0].split(text):
        if not part:
            continue
        if len(part) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_pack(part, limit, breaks[1:]))
            continue
        candidate = f"{current} {part}" if current else part
        if len(candidate) <= limit:
            current = candidate
            continue
        chunks.append(current)
        current = part
    if current:
        chunks.append(current)
    return chunks


def assemble_chunks(texts: Sequence[str], chunks: Sequence[bytes | None]) -> bytes:
    """Check each chunk's WAV, convert it to 8 kHz and join them with natural pauses.

    ``chunks[i]`` is the engine's WAV for ``texts[i]``, or ``None`` if it
    wrote no file. Every chunk must hold audible audio; one bad chunk fails
    the whole prompt because a prompt with a hole in it ("your order will
    arrive on ...") is worse than a clear error the flow can handle. The
    engine's own leading and trailing silence is trimmed, then the pause is
    chosen from how the previous chunk ended (sentence or mid-sentence).
    """
    if len(texts) != len(chunks):
        raise ValueError(f"{len(texts)} texts but {len(chunks)} chunks")
    if not chunks:
        raise SynthesisError(SynthesisErrorCode.EMPTY_TEXT, "no chunks to assemble")
    parts: list[audio.Samples] = []
    for index, data in enumerate(chunks):
        where = f"chunk {index + 1} of {len(chunks)}"
        if data is None:
            raise SynthesisError(SynthesisErrorCode.EMPTY_AUDIO, f"{where}: engine wrote no file")
        try:
            samples, rate = audio.decode_wav(data)
        except audio.WavFormatError as exc:
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, f"{where}: {exc}") from exc
        if samples.size == 0:
            raise SynthesisError(SynthesisErrorCode.EMPTY_AUDIO, f"{where}: no audio frames")
        level = audio.rms(samples)
        if level < SILENCE_RMS:
            raise SynthesisError(SynthesisErrorCode.SILENT_AUDIO, f"{where}: RMS {level:.1f} is silence")
        if parts:
            parts.append(audio.silence(pause_after(texts[index - 1]), OUTPUT_RATE))
        parts.append(audio.trim_silence(audio.resample(samples, rate, OUTPUT_RATE), OUTPUT_RATE))
    return audio.encode_wav(np.concatenate(parts), OUTPUT_RATE)


def pause_after(text: str) -> float:
    """Milliseconds of silence to put after a chunk, from how its text ends."""
    return SENTENCE_PAUSE_MS if text.rstrip().endswith(_SENTENCE_END) else CHUNK_PAUSE_MS


class _Reply(TypedDict, total=False):
    """One line from the worker."""

    ok: bool
    code: str
    detail: str
    voice: str


class Pyttsx3Synthesizer:
    """:class:`Synthesizer` backed by pyttsx3 and espeak-ng in a worker subprocess.

    The worker starts on first use (or again after it was killed) and renders
    one chunk at a time; concurrent ``synthesize`` calls queue behind a lock.
    The instance belongs to the event loop that first uses it. Close it with
    :meth:`aclose` (or ``async with``) so the worker exits with the server.
    """

    def __init__(
        self,
        voice: str | None = None,
        rate: int = 165,
        *,
        timeout: float = 10.0,
        startup_timeout: float = 20.0,
        niceness: int = 0,
    ) -> None:
        """Configure the engine; nothing starts until the first :meth:`synthesize`.

        Args:
            voice: espeak-ng voice id (``"gmw/en-us"``), short id (``"en-us"``) or
                name (``"English (America)"``); ``None`` keeps the engine default.
            rate: speaking rate in words per minute (espeak-ng accepts 80-450).
            timeout: seconds allowed to render one chunk before the worker is killed.
            startup_timeout: seconds allowed for the worker to start and warm up.
            niceness: how much to lower the worker's CPU priority (`os.nice`); a worker
                for previews sets it so that the line's own synthesis always goes first.
        """
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(f"rate must be {MIN_RATE}-{MAX_RATE} words per minute, got {rate}")
        if timeout <= 0 or startup_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._voice = voice
        self._rate = rate
        self._timeout = timeout
        self._startup_timeout = startup_timeout
        self._niceness = niceness
        self._worker: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def voice_key(self) -> str:
        """Engine, voice, rate, output format and render version, e.g. for cache keys."""
        voice = self._voice or "default"
        audio_format = f"{OUTPUT_RATE}hz-s16-mono"
        return f"pyttsx3-espeak-ng;voice={voice};rate={self._rate};{audio_format};v{_RENDER_VERSION}"

    async def synthesize(self, text: str) -> bytes:
        """Render ``text`` chunk by chunk in the worker and return one 8 kHz WAV."""
        chunks = split_for_synthesis(text)
        if not chunks:
            raise SynthesisError(SynthesisErrorCode.EMPTY_TEXT, "nothing speakable in the text")
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="ivr-tts-"))
        try:
            paths = [workdir / f"chunk-{index:03d}.wav" for index in range(len(chunks))]
            async with self._lock:
                for chunk, path in zip(chunks, paths, strict=True):
                    await self._render_chunk(chunk, path)
            return await asyncio.to_thread(_read_and_assemble, chunks, paths)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def aclose(self) -> None:
        """Stop the worker: ask it to exit (stdin EOF), kill it if it does not."""
        worker, self._worker = self._worker, None
        if worker is None or worker.returncode is not None:
            return
        if worker.stdin is not None:
            worker.stdin.close()
        try:
            async with asyncio.timeout(2.0):
                await worker.wait()
        except TimeoutError:
            await _kill(worker)

    async def __aenter__(self) -> Self:
        """Allow ``async with Pyttsx3Synthesizer() as tts:`` to guarantee cleanup."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the worker on leaving the block."""
        await self.aclose()

    async def _render_chunk(self, text: str, path: Path) -> None:
        """Have the worker write ``text`` to ``path``; must be called with the lock held."""
        worker = await self._ensure_worker()
        request = json.dumps({"text": text, "path": str(path)}) + "\n"
        reply = await self._exchange(worker, request.encode(), self._timeout, "rendering a chunk")
        if not reply.get("ok"):
            # An engine that failed once is not trusted with the next prompt: start afresh.
            code = reply.get("code", SynthesisErrorCode.ENGINE_FAILED)
            detail = reply.get("detail", "worker reported a failure")
            await self._discard_worker(f"{code}: {detail}")
            raise SynthesisError(code, detail)

    async def _ensure_worker(self) -> asyncio.subprocess.Process:
        """Return a live worker, starting (and warming up) a new one if needed."""
        if self._worker is not None:
            if self._worker.returncode is None:
                return self._worker
            await self._discard_worker(f"worker had exited with status {self._worker.returncode}")
        config = {
            "voice": self._voice,
            "rate": self._rate,
            "timeout": self._timeout,
            "startup_timeout": self._startup_timeout,
            "niceness": self._niceness,
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        try:
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER_BOOT,
                json.dumps(config),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                # Own session: a Ctrl+C aimed at the server must not kill the
                # worker mid-chunk; the server stops it through aclose().
                start_new_session=True,
            )
        except OSError as exc:
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, f"cannot start worker: {exc}") from exc
        self._worker = worker
        reply = await self._exchange(worker, None, self._startup_timeout, "starting the engine")
        if not reply.get("ok"):
            code = reply.get("code", SynthesisErrorCode.ENGINE_FAILED)
            detail = reply.get("detail", "worker failed to start")
            await self._discard_worker(f"{code}: {detail}")
            raise SynthesisError(code, detail)
        log.info("tts_worker_started: pid %s, voice %s, rate %s", worker.pid, reply.get("voice"), self._rate)
        return worker

    async def _exchange(
        self,
        worker: asyncio.subprocess.Process,
        request: bytes | None,
        seconds: float,
        doing: str,
    ) -> _Reply:
        """Send one request line (if any) and read one reply line within ``seconds``.

        Any interruption (timeout, cancellation, broken pipe) leaves an
        unknown request in flight, so the worker is killed rather than reused:
        a late reply would otherwise be read as the answer to the next chunk.
        """
        assert worker.stdin is not None and worker.stdout is not None
        try:
            async with asyncio.timeout(seconds):
                if request is not None:
                    worker.stdin.write(request)
                    await worker.stdin.drain()
                line = await worker.stdout.readline()
        except TimeoutError:
            detail = f"no answer after {seconds:g}s {doing}"
            await self._discard_worker(f"{SynthesisErrorCode.TIMEOUT}: {detail}")
            raise SynthesisError(SynthesisErrorCode.TIMEOUT, detail) from None
        except ConnectionError as exc:
            detail = f"worker pipe broke {doing}: {exc}"
            await self._discard_worker(f"{SynthesisErrorCode.ENGINE_FAILED}: {detail}")
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, detail) from exc
        except BaseException:  # Cancelled: the reply to this request would arrive late.
            await self._discard_worker(f"interrupted while {doing}")
            raise
        if not line:
            detail = f"worker exited {doing}"
            await self._discard_worker(f"{SynthesisErrorCode.ENGINE_FAILED}: {detail}")
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, detail)
        try:
            reply: _Reply = json.loads(line)
        except ValueError as exc:
            detail = f"unreadable worker reply {doing}: {line[:80]!r}"
            await self._discard_worker(f"{SynthesisErrorCode.ENGINE_FAILED}: {detail}")
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, detail) from exc
        return reply

    async def _discard_worker(self, reason: str) -> None:
        """Kill the current worker, if any, and forget it; the next chunk starts a new one."""
        worker, self._worker = self._worker, None
        if worker is not None:
            log.warning("tts_worker_killed: pid %s: %s", worker.pid, reason)
            await _kill(worker)


async def _kill(worker: asyncio.subprocess.Process) -> None:
    """SIGKILL a worker and reap it (so no zombie or unclosed-transport warning is left)."""
    if worker.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            worker.kill()
    await worker.wait()


def _read_and_assemble(texts: Sequence[str], paths: Sequence[Path]) -> bytes:
    """Read each chunk file (``None`` if missing) and assemble them; runs in a thread."""
    chunks: list[bytes | None] = []
    for path in paths:
        try:
            chunks.append(path.read_bytes())
        except FileNotFoundError:
            chunks.append(None)
    return assemble_chunks(texts, chunks)
