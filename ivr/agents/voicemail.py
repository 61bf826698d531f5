"""Voicemail recordings: fetched from Twilio, kept on disk, transcribed offline with Vosk.

A recording that cannot be fetched or transcribed still becomes a ticket: the problem is
written on it in words, with Twilio's audio link, so an agent can follow up by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ivr.agents.desk import AgentDesk
from ivr.agents.model import TranscriptStatus, Voicemail
from ivr.speech.asr import RecognitionError, RecognitionErrorCode, RecognizerFactory
from ivr.speech.audio import WavFormatError, decode_wav
from ivr.speech.cache import write_file_atomically
from ivr.telephony import TelephonyError

log = logging.getLogger(__name__)
CHUNK_SAMPLES = 4000
STALE_AFTER = 300.0
"""Seconds after which a claimed recording counts as dropped by its worker (it died) and may be
claimed again; far longer than fetching and transcribing two minutes of audio takes."""
NO_MODEL = frozenset({RecognitionErrorCode.MODEL_MISSING, RecognitionErrorCode.MODEL_INVALID})
"""Recognition errors that mean "no speech model here", not "this recording failed"."""
NO_MODEL_TEXT = (
    "No speech model is installed (IVR_VOSK_MODEL), so there is no transcript; listen to the recording."
)


class VoicemailWorker:
    def __init__(
        self,
        desk: AgentDesk,
        directory: Path,
        recognizers: RecognizerFactory | None,
        languages: Mapping[str, RecognizerFactory | None] | None = None,
    ) -> None:
        """`recognizers` is None when no speech model is installed: voicemails are kept untranscribed.
        `languages`: each other served language's model (None: none installed), so a voicemail is
        transcribed with the model of the language its caller spoke."""
        self.desk = desk
        self.directory = directory
        self.recognizers = recognizers
        self.languages = languages or {}

    def recognizers_for(self, voicemail: Voicemail) -> RecognizerFactory | None:
        language = voicemail.context.get("language", "")
        return self.languages.get(language, self.recognizers)  # a language with no model: None

    def path_for(self, voicemail: Voicemail) -> Path | None:
        """The local audio of a voicemail (for the console to play), if it was fetched."""
        return self.directory / voicemail.audio_file if voicemail.audio_file else None

    async def work(self) -> int:
        """Process every recording waiting; returns how many."""
        done = 0
        while (voicemail := await self.desk.store.voicemails.claim(STALE_AFTER)) is not None:
            await self.process(voicemail)
            done += 1
        return done

    async def process(self, voicemail: Voicemail) -> None:
        telephony = self.desk.telephony
        if telephony is None:
            return
        try:
            audio = await telephony.fetch_recording(voicemail.recording_url)
        except TelephonyError as exc:
            log.error("%s: voicemail %s: %s", exc.code, voicemail.id, exc.detail)
            await self.desk.store.voicemails.processed(
                voicemail.id,
                audio_file="",
                transcript="",
                status=TranscriptStatus.FAILED,
                problem=f"The recording could not be fetched from Twilio ({exc.code}); "
                f"listen to it at {voicemail.recording_url}.",
            )
            return
        name = f"{voicemail.id}.wav"
        await asyncio.to_thread(write_file_atomically, self.directory / name, audio)
        recognizers = self.recognizers_for(voicemail)
        if recognizers is None:
            await self.desk.store.voicemails.processed(
                voicemail.id,
                audio_file=name,
                transcript="",
                status=TranscriptStatus.NO_MODEL,
                problem=NO_MODEL_TEXT,
            )
            return
        try:
            text = await transcribe(recognizers, audio)
        except (RecognitionError, WavFormatError) as exc:
            log.error("voicemail %s not transcribed: %s", voicemail.id, exc)
            no_model = isinstance(exc, RecognitionError) and exc.code in NO_MODEL  # gone since start-up
            await self.desk.store.voicemails.processed(
                voicemail.id,
                audio_file=name,
                transcript="",
                status=TranscriptStatus.NO_MODEL if no_model else TranscriptStatus.FAILED,
                problem=NO_MODEL_TEXT
                if no_model
                else f"The recording could not be transcribed ({exc}); listen to it.",
            )
            return
        await self.desk.store.voicemails.processed(
            voicemail.id, audio_file=name, transcript=text, status=TranscriptStatus.DONE, problem=""
        )


async def transcribe(recognizers: RecognizerFactory, wav: bytes) -> str:
    """The words of a whole recording, fed in chunks as a live call would feed them."""
    samples, rate = decode_wav(wav)
    recognizer = await recognizers.recognizer(sample_rate=rate)
    pcm = np.asarray(samples, dtype="<i2")
    for start in range(0, len(pcm), CHUNK_SAMPLES):
        await recognizer.accept(pcm[start : start + CHUNK_SAMPLES].tobytes())
    return (await recognizer.finish()).text
