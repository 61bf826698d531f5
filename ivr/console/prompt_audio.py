"""Synthesised audio for the console: the Listen buttons and the test phone.

Supervisors hear prompts in the console whatever voice mode the line runs in. The console
never borrows the line's synthesiser: a supervisor listening to a long prompt would make
callers wait behind it. It has its own pyttsx3 worker, started the first time someone
listens, at a lower CPU priority than the line's, and it speaks at most `MAX_SPOKEN`
characters at a time. Its recordings go to the line's audio directory under the same ids,
so a prompt the line has already rendered plays at once, without any synthesis.

Each language is heard in its own voice (the line's for it): a worker per language, each
started the first time someone listens to that language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from ivr.speech.cache import PromptAudioCache
from ivr.speech.tts import Pyttsx3Synthesizer

log = logging.getLogger(__name__)

MAX_SPOKEN = 3_000
"""Characters the console synthesises in one request (the longest shipped prompt is about
300). Longer text is refused with a reason, never queued for minutes."""
NICENESS = 10
"""How far below the line's synthesiser the console's runs (`os.nice`)."""


class TooLong(ValueError):
    """Text over `MAX_SPOKEN` characters; the message says so in words for the page."""


class ConsoleAudio:
    def __init__(
        self,
        directory: Path,
        secret: bytes,
        *,
        voice: str | None,
        rate: int,
        voices: Mapping[str, str | None] | None = None,
    ) -> None:
        """`voice`: the default language's; `voices`: each other language's, by code."""
        self._directory = directory
        self._secret = secret
        self._voice = voice
        self._voices = dict(voices or {})
        self._rate = rate
        self._own: dict[str, Pyttsx3Synthesizer] = {}
        self._caches: dict[str, PromptAudioCache] = {}
        self._lock = asyncio.Lock()

    async def audio_id(self, text: str, language: str = "") -> str:
        """The id of `text`'s recording in `language`'s voice (a language not known, or none:
        the default's); `TooLong` over `MAX_SPOKEN` characters, and `SynthesisError` if it
        cannot be made."""
        if len(text) > MAX_SPOKEN:
            raise TooLong(f"{len(text):,} characters is too long to listen to here (at most {MAX_SPOKEN:,})")
        return await (await self._ready(language if language in self._voices else "")).audio_id(text)

    def path_for(self, audio_id: str) -> Path | None:
        # every language's recordings share the directory (their ids differ by voice)
        cache = next(iter(self._caches.values()), None)
        return cache.path_for(audio_id) if cache else None

    async def aclose(self) -> None:
        """Stop the console's synthesisers, those that started."""
        for language, cache in list(self._caches.items()):
            await cache.aclose()
            await self._own.pop(language).aclose()
            del self._caches[language]

    async def _ready(self, language: str) -> PromptAudioCache:
        async with self._lock:
            if language not in self._caches:
                log.info(
                    "console audio: starting the console's own synthesiser for %s", language or "the default"
                )
                voice = self._voices[language] if language else self._voice
                own = self._own[language] = Pyttsx3Synthesizer(
                    voice=voice, rate=self._rate, niceness=NICENESS
                )
                self._caches[language] = PromptAudioCache(self._directory, own, self._secret)
            return self._caches[language]
