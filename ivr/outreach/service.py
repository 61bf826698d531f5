"""Campaigns at work: the scheduling round, the outbound calls' webhooks, and what the
outbound flows' actions do (scores, review texts, service-recovery callbacks, opt-outs).

    round ─► find events (contact_ok only) ─► enqueue (unique per event) ─► tidy (opt-outs,
             lost claims) ─► due rows inside each customer's window ─► claim (atomic, capped)
             ─► calls.create (machine detection) ─► CallSid kept, or the error kept and retried
    Twilio ─POST /voice/outbound/answer?target=…  AnsweredBy=human ─► the flow, on the line's
             engine and session store (turns at /voice/outbound/<flow>/turn)
                                                  AnsweredBy=machine_* ─► short message, hang up
    Twilio ─POST /voice/outbound/status?target=…  no-answer/busy/failed ─► retry after spacing
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ivr.config import Settings
from ivr.hours import BusinessHours
from ivr.languages import LanguagePlan
from ivr.line import Ending, SupportLine
from ivr.logs import mask_phone
from ivr.outreach.calling_window import customer_zone, may_call
from ivr.outreach.campaigns import Campaign
from ivr.outreach.dialer import Dialer
from ivr.outreach.events import PRODUCT_NAMES, find_events
from ivr.outreach.store import OutreachStore, Target, TargetState
from ivr.records import names_from, product_in
from ivr.session import FINAL_STATUSES, CallSession
from ivr.step_twiml import Voice, render_goodbye
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.sql import Sql
from ivr.store.used_tokens import UsedTokens
from ivr.telephony import TelephonyError, text_sent

log = logging.getLogger(__name__)

OUTBOUND_PATH = "/voice/outbound"
"""Under `/voice`, so every outbound webhook's Twilio signature is checked like inbound ones."""
TARGET_VAR = "outreach_target"
"""The call variable naming the campaign row a call is about (set before the flow starts)."""
ROUND_EVERY = 60.0
"""Seconds between scheduling rounds inside `ivr serve`."""
REVIEW_PROMPT = "review_text"
SERVICE_RECOVERY = "service_recovery"
"""The desk's reason for an unhappy customer's callback (listed first)."""
CAMPAIGN_CALLBACK = "campaign_callback"
"""The desk's reason for a callback a customer asked for on a campaign call without a complaint."""
OPTED_OUT_PROMPT = "followup_opted_out"
"""What a campaign call says last to a number that opted out while it rang or ran (the words
pressing 9 ends with: "You won't get these calls again. Thank you, goodbye.")."""
OPTED_OUT_ENDING = Ending(OPTED_OUT_PROMPT, "opted_out", "the number opted out of campaign calls")
MACHINE_STATES = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


@dataclass(frozen=True, slots=True)
class OutreachConfig:
    public_url: str
    line_number: str
    """The number customers call back on (read out to answering machines)."""
    review_url: str = ""
    """IVR_REVIEW_URL: the link happy customers are texted; empty: no review texts."""
    ring_seconds: int = 25
    review_urls: Mapping[str, str] = field(default_factory=dict)
    """IVR_REVIEW_URL_<LANG>: a language's own link (the others get `review_url`)."""
    languages: LanguagePlan = field(default_factory=LanguagePlan)
    """The languages the line serves, and the line numbers' own (IVR_NUMBER_LANGUAGES)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> OutreachConfig:
        return cls(
            settings.public_url,
            settings.phone_number,
            settings.review_url,
            review_urls=dict(settings.review_urls),
            languages=LanguagePlan(settings.languages, settings.number_languages),
        )

    def review_url_for(self, language: str) -> str:
        """The review link for a customer spoken to in `language`."""
        return self.review_urls.get(language) or self.review_url


@dataclass(slots=True)
class RoundResult:
    """What one scheduling round of one campaign did (`ivr campaigns run-once`)."""

    campaign: str
    found: int = 0
    """New events enqueued this round."""
    outside_window: int = 0
    """Due customers left for later: outside their calling window, or on a closed day."""
    placed: list[str] = field(default_factory=list)
    """CallSids of the calls placed."""
    refused: int = 0
    """Calls Twilio refused (kept on the row and retried within the attempts)."""
    paused: bool = False


class Outreach:
    """The campaigns of one line (implements the flow actions' `ivr.flow.actions.Outreach`)."""

    def __init__(
        self,
        sql: Sql,
        campaigns: Mapping[str, Campaign],
        config: OutreachConfig,
        *,
        hours: BusinessHours | None = None,
        clock: Callable[[], float] = time.time,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.sql = sql
        self.store = OutreachStore(sql)
        self.campaigns = dict(campaigns)
        self.config = config
        self.hours = hours
        self.clock = clock
        self.today = today
        self.lines: dict[str, SupportLine] = {}
        """Flow name → the line that runs it (set up by `ivr.outreach.web.setup_outreach`)."""
        self.dialer: Dialer | None = None
        """Opened with the app (it needs the running event loop); None: calls cannot be placed."""
        self._once = UsedTokens(sql, clock=clock)
        self._spoken = SqlCallerLanguages(sql, clock=clock)

    # --- the scheduling round ----------------------------------------------------------------------

    async def run_round(self, name: str, *, force: bool = False) -> RoundResult:
        """One round of one campaign: enqueue new events, then call whoever is due and may be called.

        A paused campaign places nothing (`force` enqueues anyway, but claims still need it on)."""
        campaign = self.campaigns[name]
        result = RoundResult(name)
        now = self.clock()
        await self.store.known([name])
        if name not in await self.store.enabled():
            result.paused = True
            if not force:
                return result
        result.found = await self.store.enqueue(
            name, await find_events(self.sql, campaign, self.today()), now
        )
        await self.store.tidy(name, now)
        allowed: list[str] = []
        for target in await self.store.due(name, now):
            if may_call(campaign, customer_zone(target.number, target.time_zone), now, self.hours):
                allowed.append(target.id)
            else:
                result.outside_window += 1
        if self.dialer is None:
            if allowed:
                log.error("outreach_no_twilio: campaign %s has calls due but no Twilio account", name)
            return result
        claimed = await self.store.claim(
            name, allowed, now, concurrent_cap=campaign.concurrent_cap, daily_cap=campaign.daily_cap
        )
        for target in claimed:
            await self._place(campaign, target, result)
        return result

    async def _place(self, campaign: Campaign, target: Target, result: RoundResult) -> None:
        assert self.dialer is not None
        fresh = await self.store.get(target.id)
        if fresh is None or fresh.state is not TargetState.CALLING:
            log.info("campaign %s: %s opted out since the claim, not called", campaign.name, target.id)
            return
        base = f"{self.config.public_url}{OUTBOUND_PATH}"
        try:
            call_sid = await self.dialer.place_call(
                target.number,
                f"{base}/answer?target={target.id}",
                status_callback=f"{base}/status?target={target.id}",
                ring_seconds=self.config.ring_seconds,
            )
        except TelephonyError as exc:
            result.refused += 1
            log.warning(
                "%s: campaign %s could not call %s (attempt %s): %s",
                exc.code,
                campaign.name,
                mask_phone(target.number),
                target.attempts,
                exc.detail,
            )
            await self.store.attempt_failed(
                target.id,
                exc.detail,
                self.clock(),
                attempts=campaign.attempts,
                spacing=campaign.spacing_hours * 3600,
                final=TargetState.FAILED,
            )
            return
        await self.store.placed(target, call_sid, self.clock())
        result.placed.append(call_sid)
        log.info("campaign %s: called %s (%s)", campaign.name, mask_phone(target.number), call_sid)

    async def run_forever(self, every: float = ROUND_EVERY) -> None:
        """`ivr serve`'s one background task: a round of every enabled campaign, then wait."""
        while True:
            for name in sorted(await self._enabled_safely()):
                if name in self.campaigns:
                    try:
                        await self.run_round(name)
                    except Exception:  # a database or Twilio outage: the next round tries again
                        log.exception("outreach_round_failed: campaign %s", name)
            await asyncio.sleep(every)

    async def _enabled_safely(self) -> set[str]:
        try:
            return await self.store.enabled()
        except Exception:
            log.exception("outreach_round_failed: reading which campaigns are on")
            return set()

    # --- the outbound calls' webhooks --------------------------------------------------------------

    async def answer(self, target_id: str, params: Mapping[str, str]) -> str:
        """Twilio asks what to do once the call is answered: the flow for a person, the short
        message for a machine (after its beep), nothing for a call that is not ours."""
        target = await self.store.get(target_id)
        campaign = self.campaigns.get(target.campaign) if target else None
        line = self.lines.get(campaign.flow) if campaign else None
        if (
            target is None
            or campaign is None
            or line is None
            or target.call_sid not in ("", params["CallSid"])
        ):
            return render_goodbye(None, voice=self._any_voice())
        language = await self.language_of(target.number)
        known = self._known(target, campaign, language)
        if target.state is TargetState.OPTED_OUT:
            # Opted out while the phone rang: the last sentence pressing 9 would have heard.
            log.info("campaign %s: %s opted out while ringing", campaign.name, mask_phone(target.number))
            return await self._said_last(line, OPTED_OUT_PROMPT, known, language)
        answered_by = params.get("AnsweredBy", "")
        if answered_by in MACHINE_STATES:
            await self.store.picked_up(target.id, TargetState.MACHINE, answered_by, self.clock())
            log.info("campaign %s: left a message on %s", campaign.name, mask_phone(target.number))
            return await self._said_last(line, campaign.machine_prompt, known, language)
        await self.store.picked_up(target.id, TargetState.ANSWERED, answered_by or "unknown", self.clock())
        return await line.answer(params, known=known, outbound=True, language=language)

    async def _said_last(
        self, line: SupportLine, prompt: str, known: Mapping[str, str], language: str
    ) -> str:
        """One prompt of the campaign's flow in `language`, then hang up (no flow runs)."""
        live = await line.flows.current()
        catalog = live.engine.catalogs.get(language, live.engine.catalog)
        text = catalog.render(prompt, known, self.today()) if catalog.has(prompt) else None
        return render_goodbye(text, voice=live.voices.get(language, live.voice))

    async def ending(self, session: CallSession) -> Ending | None:
        """Whether a running campaign call ends at this turn: its number opted out meanwhile (on
        the command line, say); the customer hears the opt-out's goodbye, not the next question."""
        target = await self._target_of(session)
        if target is not None and target.state is TargetState.OPTED_OUT:
            log.info("campaign %s: call %s ends, the number opted out", target.campaign, session.call_sid)
            return OPTED_OUT_ENDING
        return None

    async def language_of(self, number: str) -> str:
        """The language a campaign call speaks from its first word: the customer's own (chosen
        on an earlier call, or the orders file's `language`), else the line number's
        (IVR_NUMBER_LANGUAGES), else the line's default. Never asked: the line placed the call."""
        plan = self.config.languages
        known = await self._spoken.language(number)
        if known in plan.served:
            return known
        own = plan.by_number.get(self.config.line_number, "")
        return own if own in plan.served else plan.default

    def _known(self, target: Target, campaign: Campaign, language: str) -> dict[str, str]:
        """What the call knows from its first word; the product named in `language`."""
        context = dict(target.context)
        names = names_from(context.pop(PRODUCT_NAMES, ""))
        own = "" if language == self.config.languages.default else language
        context["product"] = product_in(context.get("product", ""), names, own)
        return {
            **context,
            TARGET_VAR: target.id,
            "campaign": campaign.name,
            "line_number": self.config.line_number,
        }

    def _any_voice(self) -> Voice:
        return next(iter(self.lines.values())).flows.latest().voice

    async def status(self, target_id: str, params: Mapping[str, str]) -> None:
        """Twilio reports the call's end: unanswered calls are retried after the spacing, an
        answered one is done; the call's record is filed as any call's."""
        status = params.get("CallStatus", "")
        target = await self.store.get(target_id)
        if target is not None and status in FINAL_STATUSES and target.call_sid == params.get("CallSid"):
            campaign = self.campaigns.get(target.campaign)
            now = self.clock()
            if target.state is TargetState.CALLING and campaign is not None:
                await self.store.attempt_failed(
                    target.id,
                    f"call {status}",
                    now,
                    attempts=campaign.attempts,
                    spacing=campaign.spacing_hours * 3600,
                    final=TargetState.NO_ANSWER if status != "failed" else TargetState.FAILED,
                )
            elif target.state is TargetState.ANSWERED:
                await self.store.call_ended(target.id, now)
        if self.lines:
            await next(iter(self.lines.values())).status(params)

    # --- the outbound flows' actions (ivr.flow.actions.Outreach) ------------------------------------

    async def _target_of(self, session: CallSession) -> Target | None:
        target_id = session.vars.get(TARGET_VAR, "")
        target = await self.store.get(target_id) if target_id else None
        return target if target is not None and target.call_sid == session.call_sid else None

    async def record_score(self, session: CallSession, score: int) -> bool:
        target = await self._target_of(session)
        if target is None:
            return False
        await self.store.record_score(target, score, self.clock())
        return True

    async def send_review_text(self, session: CallSession) -> bool:
        target = await self._target_of(session)
        line = self.lines.get(session.flow)
        url = self.config.review_url_for(session.language)
        if target is None or line is None or self.dialer is None or not url:
            return False
        if not await self._once.use(f"review-text:{target.id}", self.clock() + 365 * 86400):
            return True  # a duplicate delivery of the same turn: the text went once
        live = await line.flows.for_session(session)
        catalog = live.engine.catalogs.get(session.language, live.engine.catalog)  # the call's language
        body = catalog.render(REVIEW_PROMPT, {"review_url": url}, self.today())
        try:
            sid = await self.dialer.send_text(target.number, body)
        except TelephonyError as exc:
            log.error("%s: review text to %s not sent: %s", exc.code, mask_phone(target.number), exc.detail)
            return False
        await text_sent(self.store.sql, sid, target.number, body, campaign=target.campaign)
        log.info("campaign %s: review text sent to %s", target.campaign, mask_phone(target.number))
        return True

    async def request_callback(self, session: CallSession) -> bool:
        """A callback on the agent desk with what the campaign knows: `service_recovery` (listed
        first) after an unhappy score, `campaign_callback` otherwise (the warranty offer)."""
        target = await self._target_of(session)
        if target is None:
            return False
        score = session.vars.get("survey_score", "")
        # the language the customer spoke: the desk routes the callback to an agent who speaks it
        context = {**target.context, "campaign": target.campaign, "language": session.language}
        if score:
            context |= {"survey_score": score, "service_recovery": "yes"}
        reason = SERVICE_RECOVERY if score else CAMPAIGN_CALLBACK
        callback_id = await self.store.add_callback(
            target, reason, context, self.clock(), skill=session.language
        )
        log.info(
            "campaign %s: %s callback %s for %s",
            target.campaign,
            reason,
            callback_id,
            mask_phone(target.number),
        )
        return bool(callback_id)

    async def opt_out(self, session: CallSession) -> bool:
        added = await self.store.opt_out(
            session.caller, f"pressed 9 on call {session.call_sid}", self.clock()
        )
        log.info("%s opted out of campaign calls", mask_phone(session.caller))
        return added


def weekly_scores(rows: list[Mapping[str, object]]) -> list[dict[str, object]]:
    """Scores by ISO week (Monday first): count and average, oldest week first."""
    weeks: dict[str, list[int]] = {}
    for row in rows:
        at = datetime.fromtimestamp(float(str(row["scored_at"])), UTC)
        year, week, _ = at.isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(int(str(row["score"])))
    return [
        {"week": week, "answers": len(scores), "average": round(sum(scores) / len(scores), 2)}
        for week, scores in sorted(weeks.items())
    ]


async def campaign_status(outreach: Outreach, name: str) -> dict[str, object]:
    """Counts by state and the scores (`ivr campaigns status NAME --json`, the console page)."""
    rows = await outreach.store.scores(name)
    scores = [int(r["score"]) for r in rows]
    return {
        "campaign": name,
        "enabled": name in await outreach.store.enabled(),
        "counts": await outreach.store.counts(name),
        "scores": {str(s): scores.count(s) for s in range(1, 6)},
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        "weeks": weekly_scores(rows),
    }
