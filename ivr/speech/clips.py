"""Prompt audio ready for a phone stream: synthesised, cached on disk, held as mu-law.

A media stream sends 8 kHz mu-law, so each prompt is converted once and kept in a
small in-memory LRU: a repeated prompt (every menu) costs a dictionary lookup.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from ivr.speech import audio
from ivr.speech.cache import PromptAudioCache
from ivr.speech.tts import SynthesisError, SynthesisErrorCode


class PromptClips(Protocol):
    """Prompt text to the audio a media stream plays: what a call needs of the synthesiser."""

    async def get(self, text: str) -> bytes:
        """The prompt as 8 kHz mu-law bytes; raises SynthesisError, never returns silence."""
        ...


class UlawClips:
    """:class:`PromptClips` from the prompt audio cache, the most recent kept in memory."""

    def __init__(self, cache: PromptAudioCache, max_items: int = 512) -> None:
        self.cache = cache
        self.max_items = max_items
        self._clips: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, text: str) -> bytes:
        """The prompt as 8 kHz mu-law bytes; raises SynthesisError, never returns silence."""
        audio_id = self.cache.id_for(text)
        clip = self._clips.get(audio_id)
        if clip is not None:
            self._clips.move_to_end(audio_id)
            return clip
        await self.cache.audio_id(text)
        path = self.cache.path_for(audio_id)
        if path is None:
            raise SynthesisError(SynthesisErrorCode.EMPTY_AUDIO, "prompt audio vanished from the cache")
        clip = await asyncio.to_thread(_to_ulaw, path)
        self._clips[audio_id] = clip
        if len(self._clips) > self.max_items:
            self._clips.popitem(last=False)
        return clip


def _to_ulaw(path: Path) -> bytes:
    samples, rate = audio.decode_wav(path.read_bytes())
    if rate != 8000:
        samples = audio.resample(samples, rate, 8000)
    return audio.ulaw_encode(samples)
