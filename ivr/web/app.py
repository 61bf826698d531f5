"""The composition root: `create_app` puts the support line's parts together.

Each part lives in its own module and is added by one function (`ivr.web.parts`, and
`ivr.web.local_speech` for media streams); the handlers (`ivr.web.handlers`) stay thin: they
read Twilio's form, call `SupportLine`, and answer TwiML. Any failure inside a voice webhook
is logged with its cause and answered with the fallback TwiML (apology + hand-off), so a
caller never hears Twilio's "application error".

Operations: `/healthz` (the process is alive), `/readyz` (its database and Redis answer),
`/metrics` (Prometheus text format, see `ivr.metrics`). None of them is signed or
holds call details; keep them on an internal network all the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from aiohttp import web

from ivr.agents.store.switches import EMERGENCY, SqlSwitchStore
from ivr.config import Settings
from ivr.deliveries import Deliverer, Destinations
from ivr.hours import ScheduleOpening
from ivr.insights.service import Insights
from ivr.markets import Market, number_zone
from ivr.metrics import Metrics
from ivr.outreach.service import OutreachConfig
from ivr.outreach.web import OutreachSetup, setup_outreach
from ivr.step_twiml import Voice
from ivr.store.backends import build_stores
from ivr.store.event_outbox import EventOutbox
from ivr.web.handlers import healthz, metrics, readyz
from ivr.web.keys import DELIVERER, METRICS, STORES
from ivr.web.lifecycles import count_errors, deliver_events, fold_insights, purge_daily
from ivr.web.local_speech import setup_media
from ivr.web.parts import (
    campaign_dialer,
    choose_handoff,
    setup_agents,
    setup_console,
    setup_hold_music,
    setup_sandbox,
    setup_sources,
    setup_texts,
    setup_voice,
)
from ivr.web.startup import (
    check_starting_flow,
    line_zone,
    load_hours,
    load_market_files,
    with_market_numbers,
)
from ivr.webhooks import signature_middleware

log = logging.getLogger(__name__)


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
    markets = load_market_files(settings)
    settings = with_market_numbers(settings, markets)
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
    app.cleanup_ctx.append(count_errors(app[METRICS]))
    setup_sources(app, settings, stores)
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
        agent_line.language = settings.language
        agent_line.number_languages = settings.number_languages
    switches = SqlSwitchStore(stores.sql, clock=time.time)
    emergency = agent_line.desk.emergency_closed if agent_line else lambda: switches.is_on(EMERGENCY)
    market_of: Callable[[str], Market | None] = (
        (lambda called: None) if markets is None else markets.for_number
    )
    opening = ScheduleOpening(
        hours, emergency, spoken.language, clock=now, market=market_of, caller_zone=number_zone
    )
    handoff = choose_handoff(settings, agent_line, spoken, hours, opening, now, market_of)
    texts = setup_texts(app, settings, stores)
    flows = setup_voice(
        app, settings, stores, starting, prompts, handoff, today, opening, texts, checked.guides
    )
    insights = Insights(stores.sql, flows, stores.calls, language=settings.language, zone=zone)
    app.cleanup_ctx.append(fold_insights(insights))  # stops before the database closes
    app[DELIVERER] = Deliverer(EventOutbox(stores.sql), Destinations.from_settings(settings))
    app.cleanup_ctx.append(deliver_events(app[DELIVERER]))  # stops before the database closes
    if markets is not None:
        app.cleanup_ctx.append(purge_daily(stores.sql, markets))
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
            twilio=campaign_dialer(app, settings),
        ),
        today=today,
        clock=lambda: now().timestamp(),
    )
    setup_console(app, settings, stores, flows, agent_line, today, insights, outreach)
    return app
