"""Local speech for the app: Vosk models for the streams and the voicemail transcriber,
synthesised prompt audio and its cache, and the start-up work that loads and renders them in
the background so the first caller waits for nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ivr.config import Settings, SpeechMode, TtsMode
from ivr.line import MEDIA_PATH, stream_url
from ivr.mediastream.admission import StreamAdmission
from ivr.mediastream.call import LanguageSpeech, StreamSpeech
from ivr.metrics import TimedSynthesizer
from ivr.speech.asr import RecognitionError
from ivr.speech.cache import PromptAudioCache
from ivr.speech.clips import UlawClips
from ivr.speech.models import model_problem
from ivr.speech.tts import Pyttsx3Synthesizer, SynthesisError, SynthesizerPool, synthesis_workers
from ivr.speech.vad import EndpointConfig
from ivr.speech.vosk_asr import VoskModel, VoskModels
from ivr.versions.library import LiveFlow
from ivr.web.handlers import audio, media
from ivr.web.keys import ADMISSION, AUDIO, METRICS, PROXIES, STREAM_SIGNATURE, STREAM_SPEECH, STREAMS
from ivr.web.lifecycles import close_streams
from ivr.webhooks import SignatureCheck

log = logging.getLogger(__name__)


AUDIO_MAX_AGE = 24 * 3600.0
"""Synthesised prompts unused this long are deleted (dynamic ones hold order details)."""


AUDIO_PRUNE_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class VoicemailModels:
    """Voicemail's own Vosk, with one thread so that transcribing never slows a live call."""

    models: VoskModels
    default: VoskModel | None
    """The default language's model; None: voicemails are kept untranscribed (the desk says why)."""
    languages: Mapping[str, VoskModel | None]
    """Each other language's, so a voicemail is transcribed in the language its caller spoke."""


def voicemail_models(settings: Settings) -> VoicemailModels:
    models = VoskModels(workers=1)

    def usable(path: Path) -> VoskModel | None:
        return models.model(path) if model_problem(path) is None else None

    languages = {code: usable(settings.vosk_models[code]) for code in settings.languages[1:]}
    return VoicemailModels(models, usable(settings.vosk_model), languages)


@dataclass(frozen=True, slots=True)
class PromptAudio:
    """Locally synthesised prompts (IVR_TTS=local, or the media streams of IVR_SPEECH=local)."""

    cache: PromptAudioCache | None
    """None when Twilio speaks the prompts (`<Say>`)."""
    streaming: bool
    """Calls run over media streams with local recognition, not `<Gather>` turns."""
    new_versions: asyncio.Queue[list[tuple[str, str]]]
    """Each newly published version's fixed prompts (language, text), to synthesise ahead of
    its first call."""
    caches: Mapping[str, PromptAudioCache] = field(default_factory=dict)
    """Each served language's synthesiser voice (one cache directory; ids differ by voice)."""

    def published(self, live: LiveFlow) -> None:
        if self.cache is not None:
            catalogs = live.engine.catalogs
            self.new_versions.put_nowait(
                [(code, t) for code in self.caches for t in catalogs[code].static_texts()]
            )


def setup_media(app: web.Application, settings: Settings) -> PromptAudio:
    """Prompt audio (`/audio/...`), a synthesiser per language, and the media streams (`/media`)."""
    cache: PromptAudioCache | None = None
    caches: dict[str, PromptAudioCache] = {}
    new_versions: asyncio.Queue[list[tuple[str, str]]] = asyncio.Queue()
    streaming = settings.speech is SpeechMode.LOCAL and _model_usable(settings)
    if settings.tts is TtsMode.LOCAL or streaming:
        workers = synthesis_workers()  # one per core: many calls can each be waiting for a prompt
        synthesizers = {
            code: SynthesizerPool(
                [
                    Pyttsx3Synthesizer(voice=settings.tts_voice_for(code), rate=settings.tts_rate)
                    for _ in range(workers)
                ]
            )
            for code in settings.languages
        }
        secret = audio_secret(settings.audio_dir)
        caches = {
            code: PromptAudioCache(settings.audio_dir, TimedSynthesizer(synthesizer, app[METRICS]), secret)
            for code, synthesizer in synthesizers.items()
        }
        cache = app[AUDIO] = caches[settings.language]
        app.cleanup_ctx.append(_prerender(caches, list(synthesizers.values()), new_versions))
    streams: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[STREAMS] = streams
    app[ADMISSION] = StreamAdmission()
    app[PROXIES] = settings.trusted_proxies
    app[STREAM_SIGNATURE] = SignatureCheck(settings.auth_token, stream_url(settings.public_url, ""))
    app[METRICS].media_streams.set_function(lambda: len(streams))
    if streaming and cache is not None:
        models = VoskModels()  # one per process: languages sharing a model directory load it once
        model = models.model(settings.vosk_model)
        languages = {
            code: LanguageSpeech(UlawClips(caches[code]), _language_model(settings, code, models))
            for code in settings.languages[1:]
        }
        app[STREAM_SPEECH] = StreamSpeech(UlawClips(cache), model, EndpointConfig(), app[METRICS], languages)
        loaded = [
            model,
            *(own.recognizers for own in languages.values() if isinstance(own.recognizers, VoskModel)),
        ]
        app.cleanup_ctx.append(_load_models(models, loaded))
    app.on_shutdown.append(close_streams)
    app.router.add_get("/audio/{audio_id}.wav", audio)
    app.router.add_get(MEDIA_PATH, media)
    return PromptAudio(cache, streaming, new_versions, caches)


def _prerender(
    caches: Mapping[str, PromptAudioCache],
    synthesizers: list[SynthesizerPool],
    versions: asyncio.Queue[list[tuple[str, str]]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Synthesise each newly published version's fixed prompts in the background, prune old
    recordings, and stop the synthesisers on shutdown."""
    cache = next(iter(caches.values()))  # they share a directory: one prunes for all

    async def warm() -> None:
        while True:
            for language, text in await versions.get():
                try:
                    await caches[language].audio_id(text)
                except SynthesisError as exc:
                    log.error("%s: could not pre-render a prompt: %s", exc.code, exc)

    async def prune() -> None:
        while True:
            await asyncio.sleep(AUDIO_PRUNE_EVERY)
            removed = await cache.prune(AUDIO_MAX_AGE)
            log.info("audio cache: removed %s recordings unused for a day", removed)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(warm()), asyncio.create_task(prune())]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for each in caches.values():
            await each.aclose()
        for synthesizer in synthesizers:
            await synthesizer.aclose()

    return lifecycle


def _model_usable(settings: Settings) -> bool:
    """In local speech mode, a missing model is a loud start-up error, and calls still work
    through Twilio's recogniser rather than not at all."""
    problem = model_problem(settings.vosk_model)
    if problem is None:
        return True
    log.error(
        "%s: IVR_SPEECH=local but %s. Set IVR_VOSK_MODEL (or IVR_VOSK_MODEL_%s) to a model directory, "
        "or run `ivr speech install-model %s`. Until then calls use Twilio's speech recognition "
        "(IVR_SPEECH=twilio).",
        problem.code,
        problem.detail,
        settings.language.upper(),
        settings.language,
    )
    return False


def _language_model(settings: Settings, language: str, models: VoskModels) -> VoskModel | None:
    """A served language's model; without one its callers answer with keys, which start-up says."""
    path = settings.vosk_models[language]
    problem = model_problem(path)
    if problem is None:
        return models.model(path)
    log.warning(
        "%s: language '%s' has no speech model (%s): its callers answer with keys. Set "
        "IVR_VOSK_MODEL_%s to a model directory, or run `ivr speech install-model %s`.",
        problem.code,
        language,
        problem.detail,
        language.upper(),
        language,
    )
    return None


def _load_models(
    models: VoskModels, loaded: list[VoskModel]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Load the models at start-up, in the background, so the first caller does not wait for them."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        async def load() -> None:
            for model in loaded:
                try:
                    await model.load()
                except RecognitionError as exc:
                    log.error("%s: %s", exc.code, exc)

        task = asyncio.create_task(load())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        models.close()

    return lifecycle


def audio_secret(directory: Path) -> bytes:
    """A per-installation key that makes prompt audio file names unguessable."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / ".key"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    except FileExistsError:
        return key_file.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return key_file.read_bytes()
