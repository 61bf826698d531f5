"""Synthesised audio for the console: the Listen buttons and the test phone.

Supervisors hear prompts in the console whatever voice mode the line runs in. The console
never borrows the line's synthesiser: a supervisor listening to a long prompt would make
callers wait behind it. It has its own pyttsx3 worker, started the first time someone
listens, at a lower CPU priority than the line's, and it speaks at most `MAX_SPOKEN`
characters at a time. Its recordings go to the line's audio directory under the same ids,
so a prompt the line has already rendered plays at once, without any synthesis.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from speech.cache import PromptAudioCache
from speech.tts import Pyttsx3Synthesizer

log = logging.getLogger(__name__)

MAX_SPOKEN = 3_000
"""Characters the console synthesises in one request (the longest shipped prompt is about
300). Longer text is refused with a reason, never queued for minutes."""
NICENESS = 10
"""How far below the line's synthesiser the console's runs (`os.nice`)."""


class TooLong(ValueError):
    """Text over `MAX_SPOKEN` characters; the message says so in words for the page."""


class ConsoleAudio:
    def __init__(self, directory: Path, secret: bytes, *, voice: str | None, rate: int) -> None:
        self._directory = directory
        self._secret = secret
        self._voice = voice
        self._rate = rate
        self._own: Pyttsx3Synthesizer | None = None
        self._cache: PromptAudioCache | None = None
        self._lock = asyncio.Lock()

    async def audio_id(self, text: str) -> str:
        """The id of `text`'s recording; `TooLong` over `MAX_SPOKEN` characters, and
        `SynthesisError` if it cannot be made."""
        if len(text) > MAX_SPOKEN:
            raise TooLong(f"{len(text):,} characters is too long to listen to here (at most {MAX_SPOKEN:,})")
        return await (await self._ready()).audio_id(text)

    def path_for(self, audio_id: str) -> Path | None:
        return self._cache.path_for(audio_id) if self._cache else None

    async def aclose(self) -> None:
        """Stop the console's synthesiser, if it started."""
        if self._own is not None and self._cache is not None:
            await self._cache.aclose()
            await self._own.aclose()
            self._own = None

    async def _ready(self) -> PromptAudioCache:
        async with self._lock:
            if self._cache is None:
                log.info("console audio: starting the console's own synthesiser")
                self._own = Pyttsx3Synthesizer(voice=self._voice, rate=self._rate, niceness=NICENESS)
                self._cache = PromptAudioCache(self._directory, self._own, self._secret)
            return self._cache
