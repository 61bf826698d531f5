"""Build the aiohttp application for the support line.

Handlers stay thin: they read Twilio's form, call `SupportLine`, and answer TwiML.
Any failure inside a voice webhook is logged with its cause and answered with the
fallback TwiML (apology + hand-off), so a caller never hears Twilio's
"application error".

Operations: `/healthz` (the process is alive), `/readyz` (its database and Redis answer),
`/metrics` (Prometheus text format, see `ivr.metrics`). None of them is signed or
holds call details; keep them on an internal network all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from aiohttp import WSCloseCode, web

from ivr.agents.caller_words import words_for
from ivr.agents.desk import AgentDesk
from ivr.agents.model import DeskConfig
from ivr.agents.queue_handoff import QueueHandOff
from ivr.agents.store.switches import EMERGENCY, SqlSwitchStore
from ivr.agents.urls import Urls
from ivr.agents.voicemail import VoicemailWorker
from ivr.agents.web import HOLD_PATH, AgentLine, add_agent_routes
from ivr.config import ConfigError, Settings, SpeechMode, TelephonyMode, TtsMode
from ivr.console.agent_desk import setup_agent_desk
from ivr.console.campaigns import setup_campaigns_page
from ivr.console.dev_phone import setup_dev_phone
from ivr.console.flow_editor import FlowEditor, codemirror_present, setup_flow_editor
from ivr.console.insights import setup_insights
from ivr.console.prompt_audio import ConsoleAudio
from ivr.console.test_phone import TestPhone, phone_secret
from ivr.console.web import create_console, login_secret
from ivr.flow.actions import Pickup
from ivr.flow.engine import FlowEngine
from ivr.flow.files import LINE_FLOW, CompiledFlow, FlowFiles, compile_files, read_files
from ivr.flow.opening import Opening
from ivr.forwarded import IPNetwork, client_address
from ivr.handoff import DialHandOff, EnqueueHandOff, HandOff, WithinHours
from ivr.hours import BusinessHours, HoursInvalid, ScheduleOpening, parse_hours
from ivr.insights.service import Insights
from ivr.languages import LanguagePlan
from ivr.line import MEDIA_PATH, SupportLine, stream_url
from ivr.mediastream.admission import StreamAdmission
from ivr.mediastream.call import LanguageSpeech, StreamCall, StreamSpeech
from ivr.metrics import CONTENT_TYPE, ErrorCounter, Metrics, TimedSynthesizer
from ivr.outreach.dialer import TwilioDialer
from ivr.outreach.service import Outreach, OutreachConfig
from ivr.outreach.web import OutreachSetup, setup_outreach
from ivr.sandbox.account import TwilioAccount, serving
from ivr.sandbox.network import Network
from ivr.sandbox.phones import NETWORK, add_phone_routes
from ivr.speech.asr import RecognitionError
from ivr.speech.cache import PromptAudioCache
from ivr.speech.clips import UlawClips
from ivr.speech.holdmusic import write_hold_music
from ivr.speech.models import model_problem
from ivr.speech.tts import Pyttsx3Synthesizer, SynthesisError
from ivr.speech.vad import EndpointConfig
from ivr.speech.vosk_asr import VoskModel, VoskModels
from ivr.step_twiml import Voice, queue_wait
from ivr.store.accounts import AccountStore
from ivr.store.audit import AuditLog
from ivr.store.backends import Stores, StoresUnavailable, build_stores
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.surveys import SqlSurveyRecorder
from ivr.store.used_tokens import UsedTokens
from ivr.telephony import TwilioTelephony, TwilioTexts
from ivr.versions.library import FlowLibrary, LiveFlow, line_builder
from ivr.versions.store import FlowStore
from ivr.webhooks import SignatureCheck, signature_middleware, signed_form, status_webhook, twiml_webhook
from ivr.yamlsource import SourceError, load_file

log = logging.getLogger(__name__)

LINE = web.AppKey("line", SupportLine)
AUDIO = web.AppKey("audio", PromptAudioCache)
STREAM_SIGNATURE = web.AppKey("stream_signature", SignatureCheck)
ADMISSION = web.AppKey("stream_admission", StreamAdmission[web.WebSocketResponse])
PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("proxies")
STREAM_SPEECH = web.AppKey("stream_speech", StreamSpeech)
STREAMS = web.AppKey("streams", weakref.WeakSet[web.WebSocketResponse])
METRICS = web.AppKey("metrics", Metrics)
STORES = web.AppKey("stores", Stores)
CONSOLE = web.AppKey("console", web.Application)
FLOWS = web.AppKey("flows", FlowStore)
"""The flow lifecycle (drafts, publish, rollback); publishing through it reaches new calls at once."""
MAX_STREAMS = 200
"""Media streams one process takes (recognition measured ~66 streams per core; streams also
synthesise). Past it the websocket is refused: Twilio asks `<Connect action>`, which can land
on another instance behind the load balancer."""
AUDIO_MAX_AGE = 24 * 3600.0
"""Synthesised prompts unused this long are deleted (dynamic ones hold order details)."""
AUDIO_PRUNE_EVERY = 3600.0
QUEUE_WAIT_PATH = "/voice/queue-wait"
"""What a caller in a plain Twilio queue hears (no REST credentials needed): place, wait, music."""
SWEEP_EVERY = 300.0
"""The longest wait between two sweeps for calls whose final status never arrived."""
PUBLISHED_CHECK_EVERY = 1.0
"""Seconds a new call may still get the previous version after another instance publishes."""


def _timed(kind: str) -> Callable[[web.Request], contextlib.AbstractContextManager[object]]:
    """Observe each request as one webhook of `kind` in `/metrics`."""
    return lambda request: request.app[METRICS].timed(kind)


def _call_sid(params: dict[str, str]) -> str:
    if "CallSid" not in params:
        raise web.HTTPBadRequest(text="CallSid is missing.\n")
    return params["CallSid"]


async def voice(request: web.Request, params: dict[str, str]) -> str:
    _call_sid(params)
    return await request.app[LINE].answer(params)


async def voice_turn(request: web.Request, params: dict[str, str]) -> str:
    seq = request.query.get("seq", "")
    if "CallSid" not in params or not seq.isdigit():
        raise web.HTTPBadRequest(text="CallSid and a numeric seq are required.\n")
    return await request.app[LINE].turn(int(seq), params, request.query)


async def voice_status(request: web.Request, params: dict[str, str]) -> None:
    await request.app[LINE].status(params)


def _count(value: str | None) -> int:
    """A whole number from Twilio's queue parameters; anything else counts as 0."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


async def stream_ended(request: web.Request, params: dict[str, str]) -> str:
    _call_sid(params)
    return await request.app[LINE].stream_ended(params)


async def after_transfer(request: web.Request, params: dict[str, str]) -> str:
    return request.app[LINE].after_transfer(params, request.query.get("language", ""))


def line_fallback(request: web.Request) -> str:
    """Apologise and hand the caller to a person, in the caller's language (needs no flow,
    store or synthesiser)."""
    line = request.app[LINE]
    return line.fallback(line.fault_language(signed_form(request), request.query))


async def audio(request: web.Request) -> web.StreamResponse:
    cache = request.app.get(AUDIO)
    path = cache.path_for(request.match_info["audio_id"]) if cache else None
    if path is None:
        raise web.HTTPNotFound(text="No such prompt audio.\n")
    return web.FileResponse(
        path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, max-age=86400"}
    )


async def media(request: web.Request) -> web.StreamResponse:
    """Twilio Media Streams connect here (bidirectional audio for one call)."""
    speech = request.app.get(STREAM_SPEECH)
    if speech is None:
        raise web.HTTPNotFound(text="Local speech is not enabled (IVR_SPEECH=local).\n")
    line = request.app[LINE]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not request.app[STREAM_SIGNATURE].valid(request.path_qs, {}, signature):
        # Twilio signs the handshake of every stream it opens; nothing else may open one.
        log.warning(
            "signature_invalid: websocket %s (%s)", request.path, "missing" if not signature else "wrong"
        )
        raise web.HTTPForbidden(text="Invalid or missing X-Twilio-Signature.\n")
    streams, admission = request.app[STREAMS], request.app[ADMISSION]
    if admission.streaming >= MAX_STREAMS:
        log.warning("stream_capacity: %s media streams open; refusing another", admission.streaming)
        raise web.HTTPServiceUnavailable(text="This instance is at its media stream capacity.\n")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    streams.add(ws)
    address = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", ()), request.app[PROXIES]
    )
    for stale in admission.admit(ws, address):
        log.warning("stream_evicted: a websocket sent no start while others waited; closing it")
        await stale.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no start")
    try:
        call = StreamCall(ws, line.flows, line.sessions, speech, line.stream_secret)
        await call.run(on_identified=lambda: admission.identified(ws))
    finally:
        admission.gone(ws)
        streams.discard(ws)
    return ws


async def healthz(_: web.Request) -> web.Response:
    """The process is alive (it may not be able to take calls: see `readyz`)."""
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """Ready for calls: the database and (if configured) Redis answer within about a second."""
    try:
        await request.app[STORES].ping()
    except StoresUnavailable as exc:
        log.warning("not_ready: %s", exc)  # the reasons (driver messages) stay in the log
        return web.json_response({"ready": False, "down": sorted(exc.down)}, status=503)
    return web.json_response({"ready": True, "down": []})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _agent_line(settings: Settings, stores: Stores, voice: Voice, voicemail: VoicemailModels) -> AgentLine:
    """The queue with agents, callbacks and voicemail (needs the line's Twilio account)."""
    config = DeskConfig(
        callback_offer_after=settings.callback_offer_after,
        max_queue_wait=settings.max_queue_wait,
        callback_attempts=settings.callback_attempts,
        callback_backoff=settings.callback_backoff,
        ring_seconds=settings.agent_ring_seconds,
        callback_ring_seconds=settings.callback_ring_seconds,
        language=settings.language,
    )
    desk = AgentDesk(
        stores.sql,
        accounts=AccountStore(stores.sql),
        audit=AuditLog(stores.sql),
        telephony=None,  # opened with the app (it needs the running event loop)
        urls=Urls(settings.public_url),
        config=config,
        sessions=stores.sessions,
        calls=stores.calls,
    )
    worker = VoicemailWorker(desk, settings.voicemail_dir, voicemail.default, voicemail.languages)
    return AgentLine(desk, voice, f"{settings.public_url}{HOLD_PATH}", worker, asyncio.Event())


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


def load_hours(settings: Settings) -> BusinessHours | None:
    """The line's one schedule (IVR_HOURS), read at start-up for every hand-off set-up.

    Raises:
        ConfigError: naming the file, and each mistake's line and reason; a line that
            silently ignored its hours would tell callers "please hold" at midnight.
    """
    if settings.hours_file is None:
        return None
    try:
        doc = load_file(settings.hours_file)
        data = doc.data.get("hours", doc.data) if isinstance(doc.data, dict) else doc.data
        path: tuple[str, ...] = ("hours",) if isinstance(doc.data, dict) and "hours" in doc.data else ()
        return parse_hours(data, doc, path)
    except (HoursInvalid, SourceError) as exc:
        raise ConfigError(
            f"IVR_HOURS: the business hours in {settings.hours_file} cannot be used:\n{exc}"
        ) from None


def line_zone(settings: Settings, hours: BusinessHours | None) -> tzinfo:
    """The line's time zone, whose days and hours the insights count: the business hours'
    own zone, else IVR_TIME_ZONE, else UTC.

    Raises:
        ConfigError: when IVR_TIME_ZONE names another zone than the hours (a line has one).
    """
    if hours is None:
        return settings.time_zone or UTC
    if settings.time_zone is not None and settings.time_zone.key != hours.timezone.key:
        raise ConfigError(
            f"IVR_TIME_ZONE '{settings.time_zone.key}' is not the time zone of the business hours"
            f" (IVR_HOURS: '{hours.timezone.key}'): set one of them, or the same zone in both"
        )
    return hours.timezone


def _telephony(
    settings: Settings, line: AgentLine, voicemail: VoicemailModels
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Open the Twilio client and write the hold music at start-up; at the end close the client
    and stop voicemail's Vosk threads."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        network = app.get(NETWORK)
        if network is not None:  # its account was started by `setup_sandbox`'s lifecycle, before this one
            telephony = TwilioTelephony(
                account_sid=settings.account_sid,
                auth_token=settings.auth_token,
                from_number=settings.phone_number,
                api_base=network.account.api_base,
            )
        else:
            telephony = TwilioTelephony.from_settings(settings)
        line.desk.telephony = telephony
        yield
        line.desk.telephony = None
        await telephony.aclose()
        if voicemail is not None:
            voicemail.models.close()

    return lifecycle


def _campaign_dialer(app: web.Application, settings: Settings) -> Callable[[], TwilioDialer] | None:
    """How campaigns reach the phone network: the sandbox's account when the line runs on it
    (IVR_TELEPHONY=sandbox: its follow-up calls ring sandbox phones, its texts reach them),
    else Twilio's (TWILIO_API_BASE); None without an account and number: nothing is called."""
    if not (settings.account_sid and settings.phone_number):
        return None
    network = app.get(NETWORK)
    if network is None:
        return lambda: TwilioDialer.from_settings(settings)
    # the sandbox's account starts in `setup_sandbox`'s lifecycle, before the campaigns open
    return lambda: TwilioDialer(
        account_sid=settings.account_sid,
        auth_token=settings.auth_token,
        from_number=settings.phone_number,
        api_base=network.account.api_base,
    )


def check_starting_flow(settings: Settings) -> tuple[FlowFiles, CompiledFlow]:
    """Read and compile the starting flow and prompts (IVR_FLOW, IVR_PROMPTS); raises if broken."""
    starting = read_files(settings.flow_file, settings.prompts_dir)
    for code in settings.languages:
        if code not in starting.prompts:
            name = "IVR_LANGUAGES" if settings.languages[1:] else "IVR_LANGUAGE"
            raise ValueError(f"{name}: '{code}' has no prompts file in {settings.prompts_dir}")
    prompts_source = str(settings.prompts_dir)
    checked = compile_files(
        starting,
        str(settings.flow_file),
        prompts_source=prompts_source,
        language=settings.language,
        languages=settings.languages,
    )
    return starting, checked


def create_app(
    settings: Settings,
    *,
    today: Callable[[], date] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """Validate the starting flow and prompts now (a broken flow must stop start-up).

    The files (IVR_FLOW, IVR_PROMPTS) are the starting content: stored as version 1 when the
    database has no flow yet. After that the line speaks the published version.
    `today` is the calendar the line speaks from (tests pin it; dates read relative to it);
    by default today in the line's time zone (IVR_HOURS, IVR_TIME_ZONE), else the server's. `now` is the
    clock business hours are read against, and when campaigns think it is (their calling
    windows and spacing); tests pin it too.
    """
    starting, checked = check_starting_flow(settings)
    hours = load_hours(settings)
    zone = line_zone(settings, hours)
    if today is None:
        set_zone = hours is not None or settings.time_zone is not None
        today = (lambda: now().astimezone(zone).date()) if set_zone else date.today
    for warning in checked.warnings:
        log.warning("flow_warning: %s", warning)
    stores = build_stores(settings.database_url, settings.session_url)
    app = web.Application(middlewares=[signature_middleware(settings.auth_token, settings.public_url)])
    app[METRICS] = Metrics()
    app[STORES] = stores
    app.cleanup_ctx.append(_count_errors(app[METRICS]))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    prompts = setup_media(app, settings)
    starting_catalog = checked.catalogs[settings.language]
    spoken = Voice(language=starting_catalog.say_language, voice=starting_catalog.voice)
    setup_hold_music(app, settings)
    setup_sandbox(app, settings)
    agent_line = setup_agents(app, settings, stores, spoken)
    if agent_line is not None:  # callers hear the queue in their own language and voice
        agent_line.voices = {
            code: Voice(language=catalog.say_language, voice=catalog.voice)
            for code, catalog in checked.catalogs.items()
            if code in settings.languages
        }
    switches = SqlSwitchStore(stores.sql, clock=time.time)
    emergency = agent_line.desk.emergency_closed if agent_line else lambda: switches.is_on(EMERGENCY)
    opening = ScheduleOpening(hours, emergency, spoken.language, clock=now)
    handoff = _handoff(settings, agent_line, spoken, hours, opening, now)
    texts = setup_texts(app, settings)
    flows = setup_voice(app, settings, stores, starting, prompts, handoff, today, opening, texts)
    insights = Insights(stores.sql, flows, stores.calls, language=settings.language, zone=zone)
    app.cleanup_ctx.append(_fold_insights(insights))  # stops before the database closes
    outreach = setup_outreach(
        app,
        OutreachSetup(
            # The campaigns' own flows and prompts sit beside their folder (flows/, prompts/),
            # whatever IVR_FLOW and IVR_PROMPTS name for the inbound line.
            flows_dir=settings.campaigns_dir.parent / "flows",
            prompts_dir=settings.campaigns_dir.parent / "prompts",
            campaigns_dir=settings.campaigns_dir,
            language=settings.language,
            sql=stores.sql,
            sessions=stores.sessions,
            repository=stores.repository,
            archive=stores.calls if stores.separate_sessions else None,
            handoff=handoff,
            metrics=app[METRICS],
            config=OutreachConfig.from_settings(settings),
            hours=hours,
            round_every=settings.campaign_round,
            twilio=_campaign_dialer(app, settings),
        ),
        today=today,
        clock=lambda: now().timestamp(),
    )
    setup_console(app, settings, stores, flows, agent_line, today, insights, outreach)
    return app


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
        synthesizers = {
            code: Pyttsx3Synthesizer(voice=settings.tts_voice_for(code), rate=settings.tts_rate)
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
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/audio/{audio_id}.wav", audio)
    app.router.add_get(MEDIA_PATH, media)
    return PromptAudio(cache, streaming, new_versions, caches)


def setup_sandbox(app: web.Application, settings: Settings) -> None:
    """The sandbox telephone network (IVR_TELEPHONY=sandbox): its phones' API, and its Twilio
    account served on loopback from start-up to shutdown.

    Built whatever else is configured: with IVR_AGENT_NUMBER there is no agent desk, and
    when the network was part of the desk's set-up, campaigns and texts went to the real
    Twilio API with the sandbox's credentials while the banner said no real calls are made.
    Set up before anything that reaches the account, so its lifecycle starts first."""
    if settings.telephony is not TelephonyMode.SANDBOX:
        return
    account = TwilioAccount(settings.auth_token, phone_number=settings.phone_number)
    # typed voicemails are spoken at low priority: the line's own synthesis goes first
    typed = Pyttsx3Synthesizer(voice=settings.tts_voice or None, rate=settings.tts_rate, niceness=10)
    network = Network(account, line_url=settings.public_url, voice=typed)
    add_phone_routes(app, network)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        async with serving(account):
            log.warning(
                "SANDBOX TELEPHONE NETWORK: no real calls are made; the line's number is %s, "
                "phones are at %s/console/phone/NUMBER and `ivr phone NUMBER`",
                settings.phone_number,
                settings.public_url,
            )
            try:
                yield
            finally:
                await network.aclose()

    app.cleanup_ctx.append(lifecycle)


def setup_agents(app: web.Application, settings: Settings, stores: Stores, spoken: Voice) -> AgentLine | None:
    """The queue with agents, callbacks and voicemail, when the line has its own Twilio account
    and number and no single number to dial (IVR_AGENT_NUMBER)."""
    if settings.agent_number or not (settings.account_sid and settings.phone_number):
        return None
    voicemail = voicemail_models(settings)
    agent_line = _agent_line(settings, stores, spoken, voicemail)
    add_agent_routes(app, agent_line)
    app.cleanup_ctx.append(_telephony(settings, agent_line, voicemail))
    return agent_line


def setup_texts(app: web.Application, settings: Settings) -> TwilioTexts | None:
    """Texts to callers (tracking links, return labels) need the line's Twilio account and
    number; without them no flow offers one."""
    if not (settings.account_sid and settings.phone_number):
        return None
    network = app.get(NETWORK)
    # the sandbox's account starts in `setup_sandbox`'s lifecycle, before this one opens
    texts = TwilioTexts(settings, None if network is None else lambda: network.account.api_base)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        texts.open()
        yield
        await texts.aclose()

    app.cleanup_ctx.append(lifecycle)
    return texts


def setup_hold_music(app: web.Application, settings: Settings) -> None:
    """The hold music every queue plays (`/audio/hold.wav`), written at start-up."""
    hold_file = settings.audio_dir / "hold.wav"

    async def write(_: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(write_hold_music, hold_file)
        yield

    async def hold_music(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            hold_file, headers={"Content-Type": "audio/wav", "Cache-Control": "public, max-age=86400"}
        )

    app.cleanup_ctx.append(write)
    app.router.add_get(HOLD_PATH, hold_music)


def _handoff(
    settings: Settings,
    agent_line: AgentLine | None,
    spoken: Voice,
    hours: BusinessHours | None,
    opening: ScheduleOpening,
    now: Callable[[], datetime],
) -> HandOff:
    """Our own queue with agents (closed: a voicemail), else one number to dial, else a Twilio
    queue; these two only within hours (closed: the flow's fallback offers a call back)."""
    if agent_line is not None:
        desk, queue, wake = agent_line.desk, settings.agent_queue, agent_line.wake
        return QueueHandOff(desk, queue, spoken, hours=hours, wake=wake, now=now, voices=agent_line.voices)
    if settings.agent_number:
        return WithinHours(DialHandOff(settings.agent_number), opening)
    wait_url = f"{settings.public_url}{QUEUE_WAIT_PATH}"
    return WithinHours(EnqueueHandOff(settings.agent_queue, wait_url=wait_url), opening)


def setup_voice(
    app: web.Application,
    settings: Settings,
    stores: Stores,
    starting: FlowFiles,
    prompts: PromptAudio,
    handoff: HandOff,
    today: Callable[[], date],
    opening: Opening,
    texts: TwilioTexts | None,
) -> FlowStore:
    """The call webhooks (`/voice/...`), the published flow they speak, and the database."""
    flows = FlowStore(stores.sql, language=settings.language, languages=settings.languages)
    app[FLOWS] = flows
    plan = LanguagePlan(settings.languages, settings.number_languages)
    remembered = SqlCallerLanguages(stores.sql)

    def engine(number: int, compiled: CompiledFlow) -> FlowEngine:
        catalog = compiled.catalogs[settings.language]
        return FlowEngine(
            compiled.flow,
            catalog,
            stores.repository,
            today=today,
            version=number,
            opening=opening,
            pickup=Pickup(settings.pickup_location, settings.pickup_days, opening.open_on),
            texts=texts,
            catalogs={code: compiled.catalogs[code] for code in settings.languages},
            languages=plan,
            caller_languages=remembered,
            survey=SqlSurveyRecorder(stores.sql) if settings.inbound_survey else None,
        )

    library = FlowLibrary(
        flows,
        LINE_FLOW,
        line_builder(settings.language, engine, settings.languages),
        max_age=PUBLISHED_CHECK_EVERY,
        on_new=prompts.published,
    )
    app[LINE] = SupportLine(
        library,
        stores.sessions,
        public_url=settings.public_url,
        handoff=handoff,
        audio=prompts.cache if settings.tts is TtsMode.LOCAL else None,
        audio_by_language=prompts.caches if settings.tts is TtsMode.LOCAL else {},
        streaming=prompts.streaming,
        archive=stores.calls if stores.separate_sessions else None,
        stream_secret=hashlib.sha256(b"media-stream\0" + settings.auth_token.encode()).digest(),
        metrics=app[METRICS],
    )

    async def database(_: web.Application) -> AsyncIterator[None]:
        await stores.open()
        await library.start(starting)
        watcher = asyncio.create_task(library.watch())
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await stores.close()

    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(_sweeper(app[LINE], settings.sweep_after))  # stops before the stores close
    post = app.router.add_post
    post("/voice", twiml_webhook(voice, line_fallback, timed=_timed("answer")))
    post("/voice/turn", twiml_webhook(voice_turn, line_fallback, timed=_timed("turn")))
    post("/voice/status", status_webhook(voice_status, timed=_timed("status")))
    post("/voice/after-transfer", twiml_webhook(after_transfer, line_fallback))
    post("/voice/stream-ended", twiml_webhook(stream_ended, line_fallback, timed=_timed("stream_ended")))
    hold_url = f"{settings.public_url}{HOLD_PATH}"

    async def wait(request: web.Request, params: dict[str, str]) -> str:
        language = request.query.get("language", "")  # the caller's, put there by the hand-off
        live = request.app[LINE].flows.latest()
        words = words_for(language)
        return queue_wait(
            announcement=words.in_plain_queue(
                _count(params.get("QueuePosition")), _count(params.get("AvgQueueTime"))
            ),
            hold_url=hold_url,
            voice=live.voices.get(language, live.voice),
            leave=_count(params.get("QueueTime")) >= settings.max_queue_wait,
        )

    def keep_waiting(request: web.Request) -> str:
        return queue_wait(announcement="", hold_url=hold_url, voice=Voice())

    post(QUEUE_WAIT_PATH, twiml_webhook(wait, keep_waiting))
    return flows


def setup_console(
    app: web.Application,
    settings: Settings,
    stores: Stores,
    flows: FlowStore,
    agent_line: AgentLine | None,
    today: Callable[[], date],
    insights: Insights,
    outreach: Outreach | None = None,
) -> None:
    """The web console (`/console`): accounts, the flow editor with its test phone, the agent
    desk, and the campaigns page."""
    console = create_console(
        AccountStore(stores.sql),
        AuditLog(stores.sql),
        secure_cookies=settings.public_url.startswith("https://"),
        login_secret=login_secret(settings.auth_token),
        trusted_proxies=settings.trusted_proxies,
    )
    app[CONSOLE] = console
    audio = ConsoleAudio(
        settings.audio_dir,
        audio_secret(settings.audio_dir),
        voice=settings.tts_voice or None,
        rate=settings.tts_rate,
        voices={code: settings.tts_voice_for(code) for code in settings.languages[1:]},
    )
    setup_flow_editor(
        console,
        FlowEditor(
            store=flows,  # the line's own store: a publish here reaches new calls at once
            name=LINE_FLOW,
            language=settings.language,
            languages=settings.languages,
            phone=TestPhone(
                phone_secret(settings.auth_token),
                stores.repository,
                today,
                used=UsedTokens(stores.sql),
                test_numbers=settings.test_phone_numbers,
            ),
            audio=audio,
            today=today,
            codemirror=codemirror_present(),
        ),
    )
    setup_agent_desk(console, agent_line.desk if agent_line else None, voicemail_dir=settings.voicemail_dir)
    if outreach is not None:
        setup_campaigns_page(console, outreach)
    setup_dev_phone(console, app.get(NETWORK), audio=audio, accounts=AccountStore(stores.sql))
    setup_insights(console, insights)
    app.add_subapp("/console", console)


FOLD_INSIGHTS_EVERY = 15.0
"""Seconds between folds of ended calls into the insights' hourly roll-ups (reading folds too)."""


def _fold_insights(insights: Insights) -> Callable[[web.Application], AsyncIterator[None]]:
    """Fold ended calls into the roll-ups now and then, so a page read has little left to do."""

    async def folding() -> None:
        while True:
            await asyncio.sleep(FOLD_INSIGHTS_EVERY)
            try:
                await insights.fold(None)
            except Exception:
                log.exception("insights_fold_failed: trying again in %s s", FOLD_INSIGHTS_EVERY)

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(folding())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def _sweeper(line: SupportLine, idle_for: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """Files calls whose final status never arrived as ended (`SupportLine.sweep`), every
    quarter of `idle_for` and at least every `SWEEP_EVERY` seconds, while the app runs."""
    every = min(idle_for / 4, SWEEP_EVERY)

    async def sweeping() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await line.sweep(idle_for)
            except Exception as exc:  # a store down: the next sweep tries again
                log.warning("sweep_failed: %s: %s", type(exc).__name__, exc)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sweeping(), name="call-sweeper")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return lifecycle


def _count_errors(line_metrics: Metrics) -> Callable[[web.Application], AsyncIterator[None]]:
    """Count logged errors by their stable code, for `/metrics`."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        counter = ErrorCounter(line_metrics)
        counter.install()
        yield
        counter.uninstall()

    return lifecycle


def _prerender(
    caches: Mapping[str, PromptAudioCache],
    synthesizers: list[Pyttsx3Synthesizer],
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


async def _close_streams(app: web.Application) -> None:
    """On shutdown, close media streams: Twilio asks /voice/stream-ended and the call goes on."""
    streams = app[STREAMS]
    for ws in list(streams):
        await ws.close(code=1001, message=b"server shutting down")


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
