"""The parts of the line, each added to the app by one function: the sandbox network, the
agent desk, texts, hold music, the voice webhooks and the console. `create_app` (`ivr.web.app`)
calls them in order."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime

from aiohttp import web

from ivr.agents.caller_words import words_for
from ivr.agents.desk import AgentDesk
from ivr.agents.model import DeskConfig
from ivr.agents.queue_handoff import QueueHandOff
from ivr.agents.urls import Urls
from ivr.agents.voicemail import VoicemailWorker
from ivr.agents.web import HOLD_PATH, AgentLine, add_agent_routes
from ivr.config import ConfigError, Settings, TelephonyMode, TtsMode
from ivr.console.agent_desk import setup_agent_desk
from ivr.console.campaigns import setup_campaigns_page
from ivr.console.deliveries import setup_deliveries_page
from ivr.console.dev_phone import setup_dev_phone
from ivr.console.flow_editor import FlowEditor, codemirror_present, setup_flow_editor
from ivr.console.insights import setup_insights
from ivr.console.landing import setup_landing
from ivr.console.privacy import setup_privacy
from ivr.console.prompt_audio import ConsoleAudio
from ivr.console.repairs import setup_repairs_page
from ivr.console.returns import setup_returns_page
from ivr.console.teaching import setup_teaching
from ivr.console.test_phone import TestPhone, phone_secret
from ivr.console.web import create_console, login_secret
from ivr.events import EventType
from ivr.flow.actions import Pickup, ReturnWindow
from ivr.flow.engine import FlowEngine
from ivr.flow.files import LINE_FLOW, CompiledFlow, FlowFiles
from ivr.flow.guides import GuideBook
from ivr.flow.opening import Opening
from ivr.handoff import DialHandOff, EnqueueHandOff, HandOff, WithinHours
from ivr.hours import BusinessHours, ScheduleOpening
from ivr.insights.service import Insights
from ivr.languages import LanguagePlan
from ivr.line import SupportLine
from ivr.markets import Market
from ivr.outreach.dialer import TwilioDialer
from ivr.outreach.service import Outreach
from ivr.sandbox.account import TwilioAccount, serving
from ivr.sandbox.network import Network
from ivr.sandbox.phones import NETWORK, add_phone_routes
from ivr.sources.client import HttpSources
from ivr.sources.repository import SourcedRepository
from ivr.sources.spec import KINDS, load_sources
from ivr.speech.holdmusic import write_hold_music
from ivr.speech.tts import Pyttsx3Synthesizer
from ivr.step_twiml import Voice, queue_wait
from ivr.store.accounts import AccountStore
from ivr.store.audit import AuditLog
from ivr.store.backends import Stores
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.event_outbox import EventOutbox
from ivr.store.redis import RedisSessionStore
from ivr.store.repair_bookings import SqlRepairBookings
from ivr.store.returns import SqlReturns
from ivr.store.surveys import SqlSurveyRecorder
from ivr.store.used_tokens import UsedTokens
from ivr.telephony import TwilioTelephony, TwilioTexts
from ivr.versions.library import FlowLibrary, line_builder
from ivr.versions.store import FlowStore
from ivr.web.handlers import (
    after_transfer,
    line_fallback,
    queue_number,
    stream_ended,
    timed,
    voice,
    voice_status,
    voice_turn,
)
from ivr.web.keys import CONSOLE, FLOWS, LINE, METRICS
from ivr.web.lifecycles import sweeper
from ivr.web.local_speech import PromptAudio, VoicemailModels, audio_secret, voicemail_models
from ivr.webhooks import status_webhook, twiml_webhook
from ivr.yamlsource import SourceError

log = logging.getLogger(__name__)


QUEUE_WAIT_PATH = "/voice/queue-wait"
"""What a caller in a plain Twilio queue hears (no REST credentials needed): place, wait, music."""


PUBLISHED_CHECK_EVERY = 1.0
"""Seconds a new call may still get the previous version after another instance publishes."""


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


def campaign_dialer(app: web.Application, settings: Settings) -> Callable[[], TwilioDialer] | None:
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


def setup_texts(app: web.Application, settings: Settings, stores: Stores) -> TwilioTexts | None:
    """Texts to callers (tracking links, return labels) need the line's Twilio account and
    number; without them no flow offers one. Each text sent is an event for the company."""
    if not (settings.account_sid and settings.phone_number):
        return None
    network = app.get(NETWORK)
    # the sandbox's account starts in `setup_sandbox`'s lifecycle, before this one opens
    texts = TwilioTexts(
        settings, None if network is None else lambda: network.account.api_base, events=stores.sql
    )

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


def choose_handoff(
    settings: Settings,
    agent_line: AgentLine | None,
    spoken: Voice,
    hours: BusinessHours | None,
    opening: ScheduleOpening,
    now: Callable[[], datetime],
    market: Callable[[str], Market | None] = lambda called: None,
) -> HandOff:
    """Our own queue with agents (closed: a voicemail), else one number to dial, else a Twilio
    queue; these two only within hours (closed: the flow's fallback offers a call back)."""
    if agent_line is not None:
        desk, queue, wake = agent_line.desk, settings.agent_queue, agent_line.wake
        return QueueHandOff(
            desk, queue, spoken, hours=hours, wake=wake, now=now, voices=agent_line.voices, market=market
        )
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
    guides: GuideBook,
) -> FlowStore:
    """The call webhooks (`/voice/...`), the published flow they speak, and the database."""
    flows = FlowStore(stores.sql, language=settings.language, languages=settings.languages)
    app[FLOWS] = flows
    plan = LanguagePlan(settings.languages, settings.number_languages)
    remembered = SqlCallerLanguages(stores.sql)
    returns = SqlReturns(stores.sql)
    repairs = SqlRepairBookings(stores.sql)

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
            returns=returns,
            return_window=ReturnWindow(settings.return_days, settings.return_days_by_language),
            # A version published before guides were versioned runs the guides folder's.
            guides=compiled.guides if compiled.guides.guides else guides,
            repairs=repairs,
            repair_options=settings.repair_options,
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
    app.cleanup_ctx.append(sweeper(app[LINE], settings.sweep_after))  # stops before the stores close
    post = app.router.add_post
    post("/voice", twiml_webhook(voice, line_fallback, timed=timed("answer")))
    post("/voice/turn", twiml_webhook(voice_turn, line_fallback, timed=timed("turn")))
    post("/voice/status", status_webhook(voice_status, timed=timed("status")))
    post("/voice/after-transfer", twiml_webhook(after_transfer, line_fallback))
    post("/voice/stream-ended", twiml_webhook(stream_ended, line_fallback, timed=timed("stream_ended")))
    hold_url = f"{settings.public_url}{HOLD_PATH}"

    async def wait(request: web.Request, params: dict[str, str]) -> str:
        language = request.query.get("language", "")  # the caller's, put there by the hand-off
        live = request.app[LINE].flows.latest()
        words = words_for(language)
        return queue_wait(
            announcement=words.in_plain_queue(
                queue_number(params.get("QueuePosition")), queue_number(params.get("AvgQueueTime"))
            ),
            hold_url=hold_url,
            voice=live.voices.get(language, live.voice),
            leave=queue_number(params.get("QueueTime")) >= settings.max_queue_wait,
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
    desk, the campaigns page, the returns list and the repairs page."""
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
    setup_agent_desk(
        console, agent_line.desk if agent_line else None, voicemail_dir=settings.voicemail_dir, today=today
    )
    if outreach is not None:
        setup_campaigns_page(console, outreach, round_every=settings.campaign_round)
    setup_dev_phone(console, app.get(NETWORK), audio=audio, accounts=AccountStore(stores.sql))
    setup_insights(console, insights)
    setup_teaching(console)
    setup_returns_page(console, SqlReturns(stores.sql))
    routes = {kind.value: settings.events_urls.get(kind.value, settings.events_url) for kind in EventType}
    setup_deliveries_page(console, EventOutbox(stores.sql), routes)
    setup_repairs_page(console, SqlRepairBookings(stores.sql), today)
    setup_privacy(console, stores.sessions if isinstance(stores.sessions, RedisSessionStore) else None)
    setup_landing(app, console, sandbox=app.get(NETWORK) is not None)
    app.add_subapp("/console", console)


def setup_sources(app: web.Application, settings: Settings, stores: Stores) -> None:
    """IVR_SOURCES: the kinds of record read over HTTP, behind the stores' `Repository`
    (checked now: a sources file that cannot work stops start-up, naming file and line)."""
    if settings.sources_file is None:
        return
    try:
        spec = load_sources(settings.sources_file)
    except SourceError as exc:
        raise ConfigError(f"IVR_SOURCES: {exc}") from None
    sources = HttpSources(spec, env=settings.sources_env, observer=app[METRICS])
    stores.repository = SourcedRepository(stores.repository, sources)
    for kind in KINDS:
        log.info("source %s: %s", kind, spec.kind(kind))

    async def session(_: web.Application) -> AsyncIterator[None]:
        await sources.open()
        yield
        await sources.close()

    app.cleanup_ctx.append(session)
