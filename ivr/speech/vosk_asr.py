"""The local Vosk (Kaldi) engine behind :class:`ivr.speech.asr.Recognizer`.

:class:`VoskModels` owns the expensive part, the model: a few hundred MB
loaded once per directory per process (seconds of blocking I/O and parsing,
done in a thread) and shared by every call's :class:`VoskRecognizer`.
:meth:`VoskModels.model` binds one directory into a :class:`VoskModel`, the
:class:`ivr.speech.asr.RecognizerFactory` the application hands to calls.

Every call into Kaldi blocks for milliseconds to hundreds of milliseconds, so
it runs in a thread pool shared by all calls and sized for the machine. Vosk
is reached through cffi, which releases the GIL for the duration of each C
call, so recognisers of different calls really do run in parallel on
different cores. Calls into one recogniser are serialised: an asyncio lock
keeps them in order without tying up pool threads, and a thread lock makes
that a guarantee even when a caller is cancelled while Kaldi is still busy
(Kaldi objects are not thread-safe, and a grammar change while decoding
aborts the process).

How one recogniser is used, per utterance::

    call                                   VoskRecognizer              Kaldi (pool thread)
      | set_grammar(["yes", "no"]) ----------> | remembered
      | accept(20 ms PCM) ---------------------> | ------------------> | SetGrammar (utterance start only)
      | <- None or Transcript(partial=True) --- | <------------------ | AcceptWaveform, PartialResult
      | ... (Vosk may end a segment itself: Transcript(partial=False), utterance goes on)
      | settle() at a pause ---------------------> | ------------------> | FinalResult: a segment ends
      | finish() -------------------------------> | ------------------> | FinalResult, fresh decoder
      | <- Transcript(text, confidence, partial=False)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from ivr.speech.asr import (
    UNKNOWN_WORD,
    Grammar,
    RecognitionError,
    RecognitionErrorCode,
    Transcript,
    normalise_grammar,
)
from ivr.speech.models import model_problem

if TYPE_CHECKING:
    import vosk

log = logging.getLogger(__name__)

_T = TypeVar("_T")

MODEL_SETTING = "IVR_VOSK_MODEL"
"""The environment setting that points the line at a model directory."""

INSTALL_COMMAND = "ivr speech install-model LANG"
"""The command that downloads and installs a model for a language."""

FREE_FORM_GRAMMAR = "[]"
"""What Vosk's ``SetGrammar`` takes to go back to the model's full language model."""

VOSK_LOG_LEVEL = -2
"""Kaldi verbosity: -2 silences its warnings too.

-1 (what Vosk's examples use) still prints a WARNING line to stderr for every
grammar word missing from the vocabulary, on every recogniser; this module
reports those once, through logging, instead.
"""


def _grammar_json(grammar: Grammar) -> str:
    """The JSON Vosk's ``SetGrammar`` and recogniser constructor take."""
    if grammar is None:
        return FREE_FORM_GRAMMAR
    return json.dumps([*grammar, UNKNOWN_WORD], ensure_ascii=False)


@dataclass(frozen=True)
class _Words:
    """One result from Vosk: its text and per-word confidences (empty if Vosk gave none)."""

    text: str
    confidences: tuple[float, ...] = ()


def _parse_result(raw: str) -> _Words:
    """Read Vosk's JSON for a final result (``Result``/``FinalResult``)."""
    data = _load_json(raw)
    text = data.get("text", "")
    words = data.get("result") or []
    if not isinstance(text, str) or not isinstance(words, list):
        raise RecognitionError(RecognitionErrorCode.ENGINE_FAILED, f"unexpected result: {raw[:200]!r}")
    confidences = tuple(float(word["conf"]) for word in words if isinstance(word, dict) and "conf" in word)
    return _Words(" ".join(text.split()), confidences)


def _parse_partial(raw: str) -> str:
    """Read Vosk's JSON for a partial result."""
    text = _load_json(raw).get("partial", "")
    if not isinstance(text, str):
        raise RecognitionError(RecognitionErrorCode.ENGINE_FAILED, f"unexpected partial: {raw[:200]!r}")
    return " ".join(text.split())


def _load_json(raw: str) -> dict[str, Any]:
    """Parse one of Vosk's JSON answers, which must be an object."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RecognitionError(
            RecognitionErrorCode.ENGINE_FAILED, f"unreadable result: {raw[:200]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise RecognitionError(RecognitionErrorCode.ENGINE_FAILED, f"unexpected result: {raw[:200]!r}")
    return data


def _combine(segments: Sequence[_Words], *, partial: bool) -> Transcript:
    """Join an utterance's segments into one transcript, averaging their word confidences."""
    text = " ".join(segment.text for segment in segments if segment.text)
    if not text:
        return Transcript("", 0.0, partial)
    confidences = [value for segment in segments for value in segment.confidences]
    confidence = sum(confidences) / len(confidences) if confidences and not partial else 1.0
    return Transcript(text, min(1.0, max(0.0, confidence)), partial)


@functools.cache
def _import_vosk() -> ModuleType:
    """Import vosk on first use, and quieten Kaldi's stderr logging once.

    Lazily, so that a line which never recognises speech locally (Twilio does
    it) runs without the package installed.
    """
    try:
        import vosk
    except ImportError as exc:
        raise RecognitionError(
            RecognitionErrorCode.ENGINE_MISSING,
            f"the vosk package is not installed ({exc}); install it with `pip install vosk`",
        ) from exc
    vosk.SetLogLevel(VOSK_LOG_LEVEL)
    return vosk  # type: ignore[no-any-return]  # vosk ships no type information: its module is Any


def _model_hint() -> str:
    """How the user fixes a missing or broken model, appended to those errors."""
    return (
        f"set {MODEL_SETTING} to a Vosk model directory, "
        f"or download one with `{INSTALL_COMMAND}` (for example `ivr speech install-model en`)"
    )


@dataclass
class _LoadedModel:
    """A loaded model and what this process has already said about grammars on it."""

    path: Path
    model: vosk.Model
    runtime_grammar: bool
    """Whether the model can switch grammars: ``graph/HCLr.fst`` + ``Gr.fst``, not a fixed ``HCLG.fst``."""
    _reported: set[Grammar] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report_grammar(self, grammar: Grammar) -> None:
        """Log, once per grammar per model, which of its words the model does not know.

        Vosk drops unknown words silently (a phrase can lose a word and still
        match); a flow author needs to see that once, not on every prompt of
        every call. Runs in a pool thread: vocabulary lookups go into Kaldi.
        """
        if grammar is None:
            return
        with self._lock:
            if grammar in self._reported:
                return
            self._reported.add(grammar)
        if not self.runtime_grammar:
            log.warning(
                "asr_grammar_unsupported: the model at %s has a fixed graph (graph/HCLG.fst); "
                "grammars are ignored and recognition stays free-form",
                self.path,
            )
            return
        words = dict.fromkeys(word for phrase in (*grammar, UNKNOWN_WORD) for word in phrase.split(" "))
        missing = [word for word in words if self.model.vosk_model_find_word(word) < 0]
        if missing:
            consequence = "Vosk drops them from the grammar"
            if UNKNOWN_WORD in missing:
                consequence += "; without [unk], speech outside the grammar comes out as a grammar phrase"
            log.debug(
                "asr_grammar_words_dropped: the model at %s does not know %s: %s",
                self.path,
                ", ".join(repr(word) for word in missing),
                consequence,
            )


def _settle(waiter: asyncio.Future[_LoadedModel], done: Future[_LoadedModel]) -> None:
    """Pass a finished load to one waiter, unless it stopped waiting; runs on the waiter's loop."""
    if waiter.done():
        return
    if done.cancelled():
        waiter.set_exception(
            RecognitionError(RecognitionErrorCode.ENGINE_FAILED, "model loading was stopped")
        )
    elif (error := done.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(done.result())


def _machine_cpus() -> int:
    """CPUs this process may run on (affinity and container limits included where visible)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class _ProcessModels:
    """The models loaded in this process, by directory, shared by every `VoskModels`.

    A model is hundreds of MB. The app has two users of Vosk (the media streams and the
    voicemail transcriber), and a process may build several apps (tests build hundreds):
    each loading its own copy cost a load of seconds and, because glibc keeps the freed
    pages of the loading thread's arena, memory that never came back (a test process grew
    to 9 GB). Loads are never undone: a model stays for the life of the process.
    """

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.loads: dict[Path, Future[_LoadedModel]] = {}
        self.counts: dict[Path, int] = {}
        self._loader: ThreadPoolExecutor | None = None

    def loader(self) -> ThreadPoolExecutor:
        """Loading gets its own thread: it blocks for seconds and must not hold up live calls."""
        if self._loader is None:
            self._loader = ThreadPoolExecutor(1, thread_name_prefix="vosk-load")
        return self._loader


_PROCESS = _ProcessModels()


class VoskModels:
    """Makes recognisers for calls on models loaded once per process.

    Create one for the application and share it: every call reads the same model at once.
    Loading is deduplicated across concurrent first requests, and across instances, with a
    thread-level future, so an instance works from any event loop (and from tests with one
    loop per test). A load that fails is forgotten, so a model installed later is picked up
    without a restart.
    """

    def __init__(self, *, workers: int | None = None) -> None:
        """Create the shared pools; nothing is loaded until first asked for.

        Args:
            workers: threads for recognition; defaults to the number of CPUs,
                because Kaldi is CPU-bound and releases the GIL, so more threads
                than cores only adds contention.
        """
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers or _machine_cpus()
        """How many recognition calls can run in Kaldi at once."""
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vosk")

    @staticmethod
    def loads(model_dir: Path) -> int:
        """How many times this process has loaded the model in ``model_dir`` (once, when shared)."""
        with _PROCESS.guard:
            return _PROCESS.counts.get(Path(os.path.abspath(model_dir)), 0)

    def model(self, model_dir: Path) -> VoskModel:
        """The model in ``model_dir`` as a recogniser factory for calls (nothing is loaded yet)."""
        return VoskModel(self, model_dir)

    async def load(self, model_dir: Path) -> None:
        """Load the model now (e.g. at start-up) so the first caller does not wait for it."""
        await self._model(model_dir)

    async def recognizer(
        self,
        model_dir: Path,
        sample_rate: int = 8000,
        grammar: Sequence[str] | None = None,
    ) -> VoskRecognizer:
        """Return a new recogniser on the (shared) model in ``model_dir``; one per call.

        Raises :class:`RecognitionError` (``asr_model_missing``, ``asr_model_invalid``)
        naming the directory and how to fix it.
        """
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        normalised = normalise_grammar(grammar)
        loaded = await self._model(model_dir)
        kaldi = await self._run(_new_kaldi_recognizer, loaded, sample_rate, normalised)
        return VoskRecognizer(kaldi, loaded, sample_rate, normalised, self._run)

    def close(self) -> None:
        """Stop the recognition pool; recognisers made here fail with ``asr_engine_failed``
        afterwards. Loaded models stay loaded for the process's other users."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _model(self, model_dir: Path) -> _LoadedModel:
        """The loaded model for ``model_dir``, loading it in the loader thread the first time.

        Each waiter gets its own asyncio future, so a call that hangs up while
        the model loads cancels only its wait, never the load everyone shares;
        and a load that ends after its event loop closed (a server stopped
        during start-up) is dropped quietly instead of failing in the loader.
        """
        loading = self._loading(model_dir)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_LoadedModel] = loop.create_future()

        def wake(done: Future[_LoadedModel]) -> None:
            with contextlib.suppress(RuntimeError):  # the waiting loop is closed: nobody to tell
                loop.call_soon_threadsafe(_settle, waiter, done)

        loading.add_done_callback(wake)
        return await waiter

    def _loading(self, model_dir: Path) -> Future[_LoadedModel]:
        """The one load of ``model_dir`` (however it is spelt), started if there is none yet."""
        key = Path(os.path.abspath(model_dir))
        with _PROCESS.guard:
            future = _PROCESS.loads.get(key)
            if future is not None:
                return future
            try:
                future = _PROCESS.loader().submit(self._load, key)
            except RuntimeError as exc:  # the interpreter is shutting down
                raise RecognitionError(RecognitionErrorCode.ENGINE_FAILED, "model loader is closed") from exc
            _PROCESS.loads[key] = future
        # Outside the guard: for a load that already failed, this callback runs right here.
        future.add_done_callback(functools.partial(self._forget_failed, key))
        return future

    def _forget_failed(self, key: Path, future: Future[_LoadedModel]) -> None:
        """Drop a failed load so that the next request tries again."""
        if future.cancelled() or future.exception() is not None:
            with _PROCESS.guard:
                if _PROCESS.loads.get(key) is future:
                    del _PROCESS.loads[key]

    @staticmethod
    def _load(path: Path) -> _LoadedModel:
        """Check and load one model; runs in the loader thread."""
        problem = model_problem(path)  # a clear error before Kaldi spends seconds failing
        if problem is not None:
            raise RecognitionError(problem.code, f"{problem.detail}: {_model_hint()}")
        vosk = _import_vosk()
        started = time.perf_counter()
        try:
            model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise RecognitionError(
                RecognitionErrorCode.MODEL_INVALID,
                f"Vosk could not load the model at {path} ({exc}); it may be incomplete or for "
                f"another Vosk version: {_model_hint()}",
            ) from exc
        graph = path / "graph"
        runtime_grammar = (graph / "HCLr.fst").is_file() and not (graph / "HCLG.fst").is_file()
        with _PROCESS.guard:
            _PROCESS.counts[path] = _PROCESS.counts.get(path, 0) + 1
        log.info(
            "asr_model_loaded: %s in %.1fs (grammars %s)",
            path,
            time.perf_counter() - started,
            "supported" if runtime_grammar else "not supported",
        )
        return _LoadedModel(path, model, runtime_grammar)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking Kaldi work in the shared pool."""
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        except RuntimeError as exc:  # the pool was shut down
            raise RecognitionError(RecognitionErrorCode.ENGINE_FAILED, "recogniser pool is closed") from exc
        return await future


@dataclass(frozen=True)
class VoskModel:
    """One model directory on the process's shared :class:`VoskModels`.

    This is the :class:`ivr.speech.asr.RecognizerFactory` that the application wires
    into calls and voicemail, so that they never name the directory or the engine.
    """

    models: VoskModels
    path: Path

    async def load(self) -> None:
        """Load the model now (e.g. at start-up) so the first caller does not wait for it."""
        await self.models.load(self.path)

    async def recognizer(
        self, sample_rate: int = 8000, grammar: Sequence[str] | None = None
    ) -> VoskRecognizer:
        """A new recogniser on the shared model; see :meth:`VoskModels.recognizer`."""
        return await self.models.recognizer(self.path, sample_rate, grammar)


def _new_kaldi_recognizer(loaded: _LoadedModel, sample_rate: int, grammar: Grammar) -> vosk.KaldiRecognizer:
    """Make a Kaldi recogniser with word confidences on; runs in a pool thread (~50 ms free-form)."""
    vosk = _import_vosk()
    try:
        if grammar is None:
            kaldi = vosk.KaldiRecognizer(loaded.model, sample_rate)
        else:
            loaded.report_grammar(grammar)
            kaldi = vosk.KaldiRecognizer(loaded.model, sample_rate, _grammar_json(grammar))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a recognizer")
        raise RecognitionError(
            RecognitionErrorCode.ENGINE_FAILED, f"cannot create a recogniser: {exc}"
        ) from exc
    kaldi.SetWords(True)
    return kaldi


class VoskRecognizer:
    """:class:`Recognizer` around one ``vosk.KaldiRecognizer``; made by :meth:`VoskModels.recognizer`.

    An utterance runs from the first :meth:`accept` after a :meth:`finish`
    (or creation) to the next :meth:`finish`. Vosk has its own endpointer and
    may close a *segment* mid-utterance after a pause; the segments are kept
    and :meth:`finish` returns the whole utterance, so a caller who pauses
    between two digits is not cut short. All state Kaldi depends on is
    changed only in pool threads under ``_kaldi_lock``.
    """

    def __init__(
        self,
        kaldi: vosk.KaldiRecognizer,
        loaded: _LoadedModel,
        sample_rate: int,
        grammar: Grammar,
        run: Callable[..., Any],
    ) -> None:
        self._kaldi = kaldi
        self._model = loaded
        self._sample_rate = sample_rate
        self._run = run
        self._lock = asyncio.Lock()
        self._kaldi_lock = threading.Lock()
        self._wanted: Grammar = grammar
        self._applied: Grammar = grammar
        self._in_utterance = False
        self._segment_ended = False
        """Vosk's own endpointer closed a segment, and no audio has come since."""
        self._settled = False
        """`settle` finalised the current segment, and no audio has come since."""
        self._segments: list[_Words] = []
        self._last_partial = ""

    @property
    def sample_rate(self) -> int:
        """Samples per second that :meth:`accept` expects."""
        return self._sample_rate

    @property
    def model_dir(self) -> Path:
        """The directory of the shared model this recogniser decodes with."""
        return self._model.path

    def set_grammar(self, phrases: Sequence[str] | None) -> None:
        """Restrict recognition to ``phrases`` from the next utterance; ``None`` for free-form."""
        self._wanted = normalise_grammar(phrases)

    async def accept(self, pcm: bytes) -> Transcript | None:
        """Feed 16-bit little-endian mono PCM; return a changed partial, a segment's final, or ``None``."""
        if len(pcm) % 2:
            raise ValueError(f"PCM must be whole 16-bit samples, got {len(pcm)} bytes")
        if not pcm:
            return None
        async with self._lock:
            result: Transcript | None = await self._run(self._accept_blocking, pcm)
            return result

    async def finish(self) -> Transcript:
        """Return the whole utterance's final transcript and reset for the next one."""
        async with self._lock:
            result: Transcript = await self._run(self._finish_blocking)
            return result

    async def settle(self) -> Transcript:
        """Close the segment heard so far and return the utterance's words, final; it goes on."""
        async with self._lock:
            result: Transcript = await self._run(self._settle_blocking)
            return result

    def _settle_blocking(self) -> Transcript:
        """FinalResult of the current segment, kept as one of the utterance's; runs in a pool thread."""
        with self._kaldi_lock:
            if not self._in_utterance:
                return Transcript("", 0.0, False)
            if not self._segment_ended and not self._settled:
                segment = _parse_result(self._kaldi.FinalResult())
                if segment.text:
                    self._segments.append(segment)
                self._settled = True
            self._last_partial = ""
            return _combine(self._segments, partial=False)

    def _accept_blocking(self, pcm: bytes) -> Transcript | None:
        """AcceptWaveform and read a result; runs in a pool thread."""
        with self._kaldi_lock:
            if not self._in_utterance:
                self._apply_grammar()
            try:
                ended = self._kaldi.AcceptWaveform(pcm)
            except Exception as exc:  # vosk raises a bare Exception("Failed to process waveform")
                raise RecognitionError(
                    RecognitionErrorCode.ENGINE_FAILED, f"Kaldi rejected audio: {exc}"
                ) from exc
            self._in_utterance = True
            self._settled = False
            self._segment_ended = bool(ended)
            if ended:
                segment = _parse_result(self._kaldi.Result())
                self._last_partial = ""
                if not segment.text:
                    return None
                self._segments.append(segment)
                return _combine(self._segments, partial=False)
            words = _parse_partial(self._kaldi.PartialResult())
            if not words:
                return None
            transcript = _combine([*self._segments, _Words(words)], partial=True)
            if transcript.text == self._last_partial:
                return None
            self._last_partial = transcript.text
            return transcript

    def _finish_blocking(self) -> Transcript:
        """FinalResult, join the segments and start afresh; runs in a pool thread."""
        with self._kaldi_lock:
            if not self._in_utterance:
                return Transcript("", 0.0, False)
            try:
                if self._settled:
                    # `settle` finalised the last segment and nothing came since: Kaldi is in
                    # its finished state, and the next AcceptWaveform starts afresh by itself.
                    return _combine(self._segments, partial=False)
                if self._segment_ended:
                    # After Vosk's own endpoint, FinalResult is a no-op that keeps the old
                    # decoder and feature pipeline (and so its speaker adaptation). An empty
                    # AcceptWaveform makes it run for real and start the next utterance fresh.
                    self._kaldi.AcceptWaveform(b"")
                tail = _parse_result(self._kaldi.FinalResult())
                return _combine([*self._segments, tail], partial=False)
            finally:
                self._segments = []
                self._last_partial = ""
                self._in_utterance = False
                self._segment_ended = False
                self._settled = False

    def _apply_grammar(self) -> None:
        """Switch Kaldi to the wanted grammar; only between utterances (mid-decode it aborts)."""
        wanted = self._wanted
        if wanted == self._applied:
            return
        self._model.report_grammar(wanted)
        self._kaldi.SetGrammar(_grammar_json(wanted))
        self._applied = wanted
