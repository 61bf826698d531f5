"""The outbound calls' webhooks and the campaigns' place in `ivr serve`.

Each flow a campaign names gets its own `SupportLine`: the same engine, session store,
compare-and-set turns and replay rules as inbound calls, with its own published versions
(`FlowLibrary`, so publish, rollback and version pinning work as for the inbound flow) and
its own turn path. Every path is under `/voice`, so Twilio's signature is checked on each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from aiohttp import web

from ivr.flow.engine import FlowEngine
from ivr.flow.files import CompiledFlow, FlowFiles, compile_files, read_files
from ivr.handoff import HandOff
from ivr.hours import BusinessHours
from ivr.languages import LanguagePlan
from ivr.line import SupportLine
from ivr.metrics import Metrics
from ivr.outreach.campaigns import Campaign, flow_names, load_campaigns
from ivr.outreach.dialer import TwilioDialer
from ivr.outreach.service import OUTBOUND_PATH, Outreach, OutreachConfig
from ivr.store.base import CallLog, Repository, SessionStore
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.sql import Sql
from ivr.versions.library import FlowLibrary, line_builder
from ivr.versions.store import FlowStore
from ivr.webhooks import status_webhook, twiml_webhook

log = logging.getLogger(__name__)

OUTREACH = web.AppKey("outreach", Outreach)


@dataclass(frozen=True, slots=True)
class OutreachSetup:
    """What the campaigns need from the rest of the app."""

    flows_dir: Path
    prompts_dir: Path
    campaigns_dir: Path
    language: str
    sql: Sql
    sessions: SessionStore
    repository: Repository
    archive: CallLog | None
    handoff: HandOff
    metrics: Metrics
    config: OutreachConfig
    hours: BusinessHours | None
    round_every: float
    """Seconds between scheduling rounds; 0: no background rounds (`ivr campaigns run-once` only)."""
    twilio: Callable[[], TwilioDialer] | None
    """Opens the Twilio client inside the running loop; None: no account, no calls placed."""


def check_campaigns(
    flows_dir: Path, prompts_dir: Path, campaigns_dir: Path, language: str, languages: tuple[str, ...] = ()
) -> dict[str, Campaign]:
    """Every campaign file and the flows they name, checked (raises `CampaignInvalid` or
    `FlowInvalid` naming the file and line), with prompts in every served language: a
    campaign call speaks its customer's."""
    if not campaigns_dir.is_dir():
        return {}
    flows = flow_names(flows_dir)
    campaigns = load_campaigns(campaigns_dir, flows)
    prompts: set[str] = set()
    for name in sorted({c.flow for c in campaigns.values()}):
        files = read_files(flows_dir / f"{name}.yaml", prompts_dir)
        compiled = _compile(files, flows_dir, name, language, languages)
        prompts |= set(compiled.catalogs[language].templates)
    # Again, now that the prompts are known: a machine message that does not exist is refused.
    return load_campaigns(campaigns_dir, flows, prompts) if campaigns else campaigns


def _compile(
    files: FlowFiles, flows_dir: Path, name: str, language: str, languages: tuple[str, ...]
) -> CompiledFlow:
    source = str(flows_dir / f"{name}.yaml")
    return compile_files(files, source, prompts_source="prompts", language=language, languages=languages)


def setup_outreach(
    app: web.Application,
    setup: OutreachSetup,
    *,
    today: Callable[[], date],
    clock: Callable[[], float],
) -> Outreach:
    served = setup.config.languages.served
    campaigns = check_campaigns(
        setup.flows_dir, setup.prompts_dir, setup.campaigns_dir, setup.language, served
    )
    outreach = Outreach(setup.sql, campaigns, setup.config, hours=setup.hours, clock=clock, today=today)
    app[OUTREACH] = outreach
    flows = FlowStore(setup.sql, language=setup.language, languages=served)
    # The call's language is set before it starts (`Outreach.language_of`); the plan without
    # the line numbers' languages only serves a customer who presses * to change it.
    plan = LanguagePlan(served)
    remembered = SqlCallerLanguages(setup.sql)

    def engine(number: int, compiled: CompiledFlow) -> FlowEngine:
        catalog = compiled.catalogs[setup.language]
        return FlowEngine(
            compiled.flow,
            catalog,
            setup.repository,
            today=today,
            version=number,
            outreach=outreach,
            catalogs={code: compiled.catalogs[code] for code in served},
            languages=plan,
            caller_languages=remembered,
        )

    libraries: dict[str, FlowLibrary] = {}
    for name in sorted({c.flow for c in campaigns.values()}):
        library = FlowLibrary(flows, name, line_builder(setup.language, engine, served))
        libraries[name] = library
        outreach.lines[name] = SupportLine(
            library,
            setup.sessions,
            public_url=setup.config.public_url,
            handoff=setup.handoff,
            archive=setup.archive,
            metrics=setup.metrics,
            turn_path=f"{OUTBOUND_PATH}/{name}/turn",
        )

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await outreach.store.known(sorted(campaigns))
        for name, library in libraries.items():
            await library.start(read_files(setup.flows_dir / f"{name}.yaml", setup.prompts_dir))
        dialer = setup.twilio() if setup.twilio is not None else None
        outreach.dialer = dialer
        task = asyncio.create_task(outreach.run_forever(setup.round_every)) if setup.round_every > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        outreach.dialer = None
        if dialer is not None:
            await dialer.aclose()

    app.cleanup_ctx.append(lifecycle)

    def fallback(request: web.Request) -> str:
        line = outreach.lines.get(request.match_info.get("flow", "")) or next(iter(outreach.lines.values()))
        return line.fallback(request.query.get("language", ""))

    async def answer(request: web.Request, params: dict[str, str]) -> str:
        if "CallSid" not in params:
            raise web.HTTPBadRequest(text="CallSid is missing.\n")
        return await outreach.answer(request.query.get("target", ""), params)

    async def turn(request: web.Request, params: dict[str, str]) -> str:
        line = outreach.lines.get(request.match_info["flow"])
        seq = request.query.get("seq", "")
        if line is None or "CallSid" not in params or not seq.isdigit():
            raise web.HTTPBadRequest(text="A known flow, CallSid and a numeric seq are required.\n")
        return await line.turn(int(seq), params, request.query, end=outreach.ending)

    async def status(request: web.Request, params: dict[str, str]) -> None:
        await outreach.status(request.query.get("target", ""), params)

    if outreach.lines:
        app.router.add_post(f"{OUTBOUND_PATH}/answer", twiml_webhook(answer, fallback))
        app.router.add_post(f"{OUTBOUND_PATH}/status", status_webhook(status))
        app.router.add_post(f"{OUTBOUND_PATH}/{{flow}}/turn", twiml_webhook(turn, fallback))
    return outreach
