"""The pyttsx3 worker process: the only place espeak-ng is loaded.

Started by :class:`ivr.speech.tts.Pyttsx3Synthesizer` as ``python -c``; reads one JSON
request per line on stdin and answers one JSON reply per line on stdout (the
protocol is drawn in ``ivr/speech/tts.py``). Kept apart so the server process never
imports pyttsx3, and so the work-arounds for pyttsx3 2.99's races live in one place.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr.speech.tts import SynthesisError, SynthesisErrorCode, assemble_chunks

_WARM_UP_TEXT = "Ready."


class _EngineWatch:
    """Collects pyttsx3 notifications, which arrive on espeak-ng's own thread."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.completed = False
        self.errors: list[str] = []

    def reset(self) -> None:
        """Forget the previous utterance before queuing a new one."""
        self.finished.clear()
        self.completed = False
        self.errors.clear()

    def on_finished(self, **event: Any) -> None:
        """pyttsx3 ``finished-utterance`` callback: the WAV file has been written."""
        self.completed = bool(event.get("completed"))
        self.finished.set()

    def on_error(self, **event: Any) -> None:
        """pyttsx3 ``error`` callback, e.g. a rejected voice."""
        self.errors.append(repr(event.get("exception")))


class _Engine:
    """The pyttsx3 espeak engine, driven so that each call really waits for its audio.

    This reaches into pyttsx3 2.99 internals (the espeak driver object and the
    ``_espeak`` ctypes module) because its public API has no reliable way to
    know when espeak-ng is done; each use is explained where it happens.
    """

    def __init__(self, voice: str | None, rate: int, timeout: float) -> None:
        """Create the engine and apply voice and rate, verifying they took effect.

        Properties go straight to the driver while espeak-ng is idle. Through
        ``engine.setProperty`` they would wait in pyttsx3's queue until the
        first ``runAndWait()``, whose ``stop()`` can then cancel them inside
        espeak-ng (seen once in 60 loaded runs: a prompt silently rendered at
        the default 200 words per minute instead of the configured rate).
        """
        import pyttsx3  # Only the worker loads pyttsx3 and espeak-ng.
        from pyttsx3.drivers import _espeak

        self._engine = pyttsx3.init("espeak")
        self._driver = self._engine.proxy._driver
        self._is_playing: Callable[[], int] = _espeak.IsPlaying
        self._watch = _EngineWatch()
        self._engine.connect("finished-utterance", self._watch.on_finished)
        self._engine.connect("error", self._watch.on_error)
        deadline = time.monotonic() + timeout
        if not self._wait_idle(deadline):  # The driver's own defaults are still queued.
            raise SynthesisError(SynthesisErrorCode.TIMEOUT, "engine busy at start-up")
        if voice is not None:
            wanted = self._resolve_voice(voice)
            try:
                self._driver.setProperty("voice", wanted)
            except ValueError as exc:
                raise SynthesisError(SynthesisErrorCode.UNKNOWN_VOICE, str(exc)) from exc
            if self.voice != wanted:
                raise SynthesisError(
                    SynthesisErrorCode.ENGINE_FAILED, f"voice is {self.voice}, wanted {wanted}"
                )
        self._driver.setProperty("rate", rate)
        self._driver.setProperty("volume", 1.0)
        if not self._wait_idle(deadline):
            raise SynthesisError(SynthesisErrorCode.TIMEOUT, "engine busy applying settings")
        # pyttsx3 declares espeak_GetParameter without its `current` argument,
        # so call the C function directly to read the rate in effect.
        actual = int(_espeak.dll.espeak_GetParameter(_espeak.RATE, 1))
        if actual != rate:
            raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, f"engine rate is {actual}, wanted {rate}")

    @property
    def voice(self) -> str:
        """The engine's current voice id."""
        return str(self._engine.getProperty("voice"))

    def _resolve_voice(self, wanted: str) -> str:
        """Map a voice id, short id or display name to the engine's voice id."""
        wanted_folded = wanted.casefold()
        for voice in self._engine.getProperty("voices"):
            voice_id = str(voice.id)
            candidates = {voice_id.casefold(), voice_id.rsplit("/", 1)[-1].casefold()}
            if voice.name:
                candidates.add(str(voice.name).casefold())
            if wanted_folded in candidates:
                return voice_id
        raise SynthesisError(SynthesisErrorCode.UNKNOWN_VOICE, f"voice {wanted!r} is not installed")

    def speak_to_file(self, text: str, path: str, timeout: float) -> dict[str, str] | None:
        """Render ``text`` into ``path``; return ``None`` on success or a failure reply.

        pyttsx3 2.99's espeak driver needs three work-arounds, each seen failing here:

        * On an engine's first call ``runAndWait()`` returns about 10 ms after
          starting, before espeak-ng's thread has written anything (long texts
          came back with no file). Completion is taken from the
          ``finished-utterance`` notification instead.
        * That notification fires inside espeak-ng's callback, before the
          engine is idle, and every ``runAndWait()`` calls the driver's
          ``stop()``, which cancels whatever espeak-ng reports as playing. So
          this waits for espeak-ng to be idle before and after each utterance.
        * Right after start-up espeak-ng can report "playing" while idle; the
          ``stop()`` then leaves a sticky ``_stopping`` flag that cancels the
          *next* utterance (it came back ``completed=False``, about one worker
          start in seven). The flag is cleared before each utterance.
        """
        deadline = time.monotonic() + timeout
        if not self._wait_idle(deadline):
            return {"code": SynthesisErrorCode.TIMEOUT, "detail": "engine busy before start"}
        if getattr(self._driver, "_stopping", False):
            self._driver._stopping = False
        watch = self._watch
        watch.reset()
        self._engine.save_to_file(text, path)
        self._engine.runAndWait()
        if not watch.finished.wait(max(deadline - time.monotonic(), 0.0)):
            return {"code": SynthesisErrorCode.TIMEOUT, "detail": f"no audio after {timeout:g}s"}
        if not self._wait_idle(deadline):
            return {"code": SynthesisErrorCode.TIMEOUT, "detail": "engine never became idle"}
        if watch.errors:
            return {"code": SynthesisErrorCode.ENGINE_FAILED, "detail": "; ".join(watch.errors)}
        if not watch.completed:
            return {"code": SynthesisErrorCode.ENGINE_FAILED, "detail": "utterance was cut short"}
        if not os.path.exists(path):
            return {"code": SynthesisErrorCode.EMPTY_AUDIO, "detail": "engine wrote no file"}
        return None

    def _wait_idle(self, deadline: float) -> bool:
        """Poll espeak-ng until it reports idle; ``False`` if ``deadline`` passes first."""
        while self._is_playing():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True


def worker_main(argv: list[str]) -> int:
    """Entry point of the worker subprocess: serve chunk requests until stdin closes.

    The real stdout is kept for replies and file descriptor 1 is pointed at
    ``/dev/null``, which silences pyttsx3's ``print()`` and anything the C
    library writes. A warm-up phrase is rendered and checked before the worker
    reports ready, so a broken engine or voice fails at start-up, not mid-call.
    """
    config = json.loads(argv[0])
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)

    def reply(**fields: Any) -> None:
        replies.write(json.dumps(fields) + "\n")
        replies.flush()

    _exit_when_orphaned()
    if config.get("niceness"):
        os.nice(int(config["niceness"]))
    timeout = float(config["timeout"])
    startup_timeout = float(config["startup_timeout"])
    try:
        engine = _Engine(config.get("voice"), int(config["rate"]), startup_timeout)
        with tempfile.TemporaryDirectory(prefix="ivr-tts-warm-up-") as scratch:
            warm_up = os.path.join(scratch, "warm-up.wav")
            failure = engine.speak_to_file(_WARM_UP_TEXT, warm_up, startup_timeout)
            if failure is None:
                with open(warm_up, "rb") as handle:
                    assemble_chunks([_WARM_UP_TEXT], [handle.read()])  # Raises on silence.
    except SynthesisError as exc:
        reply(ok=False, code=exc.code, detail=exc.detail)
        return 1
    except Exception as exc:  # Anything from loading or initialising the engine.
        reply(ok=False, code=SynthesisErrorCode.ENGINE_FAILED, detail=repr(exc))
        return 1
    if failure is not None:
        reply(ok=False, **failure)
        return 1
    reply(ok=True, voice=engine.voice)

    while line := sys.stdin.buffer.readline():
        request = json.loads(line)
        failure = engine.speak_to_file(request["text"], request["path"], timeout)
        if failure is None:
            reply(ok=True)
            continue
        reply(ok=False, **failure)
        if failure["code"] == SynthesisErrorCode.TIMEOUT:
            return 1  # espeak-ng's thread may still be running: let the parent start afresh.
    return 0


def _exit_when_orphaned() -> None:
    """End the worker if the server dies without closing it (e.g. SIGKILL).

    A hung ``runAndWait()`` never reads stdin again, so EOF alone would leave
    a stuck worker behind; a parent-pid check every second cannot be blocked.
    """
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch_parent, name="orphan-watch", daemon=True).start()
