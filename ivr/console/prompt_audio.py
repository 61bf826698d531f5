"""Synthesised audio for the console: the Listen buttons and the test phone.

Supervisors hear prompts in the console whatever voice mode the line runs in. With
`IVR_TTS=local` the line's own cache is shared (the same recordings callers get);
otherwise a cache and a pyttsx3 worker are started the first time someone listens, so a
line that speaks with Twilio's `<Say>` pays nothing until then.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from speech.cache import PromptAudioCache
from speech.tts import Pyttsx3Synthesizer

log = logging.getLogger(__name__)


class ConsoleAudio:
    def __init__(
        self,
        shared: PromptAudioCache | None,
        directory: Path,
        secret: bytes,
        *,
        voice: str | None,
        rate: int,
    ) -> None:
        self._cache = shared
        self._directory = directory
        self._secret = secret
        self._voice = voice
        self._rate = rate
        self._own: Pyttsx3Synthesizer | None = None
        self._lock = asyncio.Lock()

    async def audio_id(self, text: str) -> str:
        """The id of `text`'s recording; raises `SynthesisError` if it cannot be made."""
        return await (await self._ready()).audio_id(text)

    def path_for(self, audio_id: str) -> Path | None:
        return self._cache.path_for(audio_id) if self._cache else None

    async def aclose(self) -> None:
        """Stop the console's own synthesiser, if it started one (the line's is the line's)."""
        if self._own is not None and self._cache is not None:
            await self._cache.aclose()
            await self._own.aclose()
            self._own = None

    async def _ready(self) -> PromptAudioCache:
        async with self._lock:
            if self._cache is None:
                log.info("console audio: starting a synthesiser for the console (IVR_TTS is not local)")
                self._own = Pyttsx3Synthesizer(voice=self._voice, rate=self._rate)
                self._cache = PromptAudioCache(self._directory, self._own, self._secret)
            return self._cache
