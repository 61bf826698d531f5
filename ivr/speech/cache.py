"""On-disk cache of synthesised prompt audio, served to Twilio ``<Play>`` by id.

Files are named by an HMAC of the text, not a plain hash: prompts read back a
caller's order details once they are verified, and a plain hash of "Your order
1234 ships to ..." could be confirmed by anyone who guesses the text. With a
per-installation secret the URL reveals nothing and cannot be guessed.

Each prompt is synthesised at most once even under concurrent calls (the
first request starts the work, later ones wait for it) and written atomically,
so ``<Play>`` never fetches a half-written file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import tempfile
import time
from functools import partial
from pathlib import Path

from ivr.speech import audio
from ivr.speech.tts import SynthesisError, SynthesisErrorCode, Synthesizer

ID_HEX_CHARS = 32
"""Length of an audio id: 128 bits of the HMAC, plenty to be unguessable."""

_ID_PATTERN = re.compile(rf"[0-9a-f]{{{ID_HEX_CHARS}}}")


class PromptAudioCache:
    """Maps prompt text to a cached WAV file named ``<audio id>.wav`` in ``directory``."""

    def __init__(self, directory: Path, synthesizer: Synthesizer, secret: bytes) -> None:
        """Remember where and how to render; the directory is created on first write.

        Args:
            directory: where the WAV files live (private to the server).
            synthesizer: renders missing prompts; its ``voice_key`` is part of the id,
                so changing voice or rate never serves stale audio.
            secret: per-installation key (32 random bytes recommended); keep it
                stable across restarts or every prompt is rendered again.
        """
        if not secret:
            raise ValueError("secret must not be empty: it is what makes audio ids unguessable")
        self._directory = directory
        self._synthesizer = synthesizer
        self._secret = secret
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def id_for(self, text: str) -> str:
        """The audio id for ``text`` with the current voice, whether or not it is cached."""
        message = f"{self._synthesizer.voice_key}\0{text}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:ID_HEX_CHARS]

    async def audio_id(self, text: str) -> str:
        """Return the id of ``text``'s audio, synthesising and storing it first if needed.

        Concurrent requests for the same text share one synthesis. The shared
        work is shielded, so a caller hanging up (cancelling its request)
        does not abort audio another call is waiting for.

        Raises:
            SynthesisError: the prompt could not be rendered; nothing is cached,
                and the next request tries again.
        """
        audio_id = self.id_for(text)
        task = self._in_flight.get(audio_id)
        if task is None:
            task = asyncio.create_task(self._ensure(audio_id, text))
            self._in_flight[audio_id] = task
            task.add_done_callback(partial(self._finished, audio_id))
        await asyncio.shield(task)
        return audio_id

    async def prune(self, older_than: float) -> int:
        """Delete recordings not used for `older_than` seconds; returns how many.

        Dynamic prompts carry a caller's order details, so they must not pile up
        forever; a pruned prompt that is needed again is simply synthesised again.
        """
        return await asyncio.to_thread(_prune, self._directory, older_than)

    async def aclose(self) -> None:
        """Cancel syntheses still in flight and wait for them, before the synthesiser closes.

        The shared work is shielded from its waiters, so nothing else would stop it:
        left running, it could start a new engine after shutdown.
        """
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def path_for(self, audio_id: str) -> Path | None:
        """The cached file for ``audio_id``, or ``None`` if it is malformed or not cached.

        The id comes from a URL, so only exactly 32 lowercase hex characters
        are accepted; nothing else can reach the file system (no ``..``, no
        separators, no other files such as the secret).
        """
        if not _ID_PATTERN.fullmatch(audio_id):
            return None
        path = self._directory / f"{audio_id}.wav"
        return path if path.is_file() else None

    async def _ensure(self, audio_id: str, text: str) -> None:
        """Synthesise and store ``text`` unless its file already exists."""
        path = self._directory / f"{audio_id}.wav"
        if await asyncio.to_thread(_touch, path):
            return
        wav = await self._synthesizer.synthesize(text)
        await asyncio.to_thread(_write_atomically, path, wav)

    def _finished(self, audio_id: str, task: asyncio.Task[None]) -> None:
        """Drop a finished task so a failed prompt is retried next time.

        Reading the exception here also keeps asyncio from logging "exception
        was never retrieved" when every waiter was cancelled.
        """
        if self._in_flight.get(audio_id) is task:
            del self._in_flight[audio_id]
        if not task.cancelled():
            task.exception()


def _touch(path: Path) -> bool:
    """Mark a cached file as just used (so pruning keeps it); False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _prune(directory: Path, older_than: float) -> int:
    cutoff = time.time() - older_than
    removed = 0
    for path in directory.glob("*.wav"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def _write_atomically(path: Path, wav: bytes) -> None:
    """Check ``wav`` is real audio, then write it so ``path`` is either absent or complete."""
    try:
        samples, _ = audio.decode_wav(wav)
    except audio.WavFormatError as exc:
        raise SynthesisError(SynthesisErrorCode.ENGINE_FAILED, f"synthesiser returned {exc}") from exc
    if samples.size == 0:
        raise SynthesisError(SynthesisErrorCode.EMPTY_AUDIO, "synthesiser returned no audio frames")
    write_file_atomically(path, wav)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` so ``path`` is either absent, its old content, or complete: never half-written.

    The data goes to a temporary file in the same directory, is flushed to
    disk, and is renamed over ``path`` (atomic on POSIX and Windows). A crash
    can leave a stray ``.*.tmp`` file but never a truncated file; a reader that
    opened the old file keeps reading the old content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
