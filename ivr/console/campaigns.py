"""The console's campaigns page (supervisors and admins): turn each campaign on or off, watch
its progress and scores, and see the unhappy customers with the state of their callback.

    GET  /campaigns               the page (reloads itself every 15 s while nobody is using a form on it)
    GET  /campaigns/status.json   the same numbers as JSON (`ivr campaigns status --json` per campaign)
    POST /campaigns/{name}        action=enable|pause, with the CSRF token; audited

Numbers are masked, as on the agent desk: the page is for seeing how a campaign goes, and
agents call customers back from the desk, where the number is shown to whoever takes it.

Each customer still waiting for a call is listed with why they wait and when the next call
can be: a bare "waiting 1" at 22:00 reads as a broken campaign, where "outside 10:00-19:00 in
the customer's time (22:14 there); next call tomorrow 10:00" is the campaign doing its job.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.bodies import read_form
from ivr.console.web import AUDIT, render, require, see_other
from ivr.logs import mask_phone
from ivr.outreach.calling_window import customer_zone, may_call, next_chance
from ivr.outreach.campaigns import Campaign
from ivr.outreach.service import Outreach, campaign_status
from ivr.outreach.store import Target
from ivr.outreach.web import OUTREACH
from ivr.store.accounts import Role

UNHAPPY_BELOW = 4
"""Scores below this are unhappy customers (1 to 3), as the follow-up flow treats them."""


ROUND_EVERY = web.AppKey("campaign_round", float)


def _when(at: float, now: float) -> str:
    """A moment as the server's clock reads it, with how far away: "Tue 8 Dec 10:00 CET (in 2 h 5 min)"."""
    local = datetime.fromtimestamp(at).astimezone()
    minutes = max(0, round((at - now) / 60))
    away = f"in {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"in {minutes} min"
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()} ({away})"


def why_waiting(
    outreach: Outreach, campaign: Campaign, target: Target, *, enabled: bool, now: float, round_every: float
) -> dict[str, str]:
    """Why this customer has not been called yet, and when they can be, in words."""
    zone = customer_zone(target.number, target.time_zone)
    due = max(now, target.next_at)
    window = f"{campaign.window_from:%H:%M}-{campaign.window_to:%H:%M}"
    if target.next_at > now and target.attempts:
        why = f"Call {target.attempts} was not answered; the next try waits {campaign.spacing_hours:g} h."
    elif target.next_at > now:
        why = "Not due yet."
    elif zone is None:
        why = "No time zone is known for this number (import a time_zone column): not called on a guess."
    elif not may_call(campaign, zone, now, outreach.hours):
        there = datetime.fromtimestamp(now).astimezone(zone)
        if campaign.window_from <= there.time() < campaign.window_to:
            why = "The line is closed today (a holiday, a closed weekday or the emergency switch)."
        else:
            why = f"Outside {window} in the customer's time ({zone.key}, {there:%H:%M} there)."
    elif not enabled:
        why = "The campaign is paused."
    elif outreach.dialer is None:
        why = "The line has no Twilio account to call with."
    else:
        why = "Due now."
    chance = next_chance(campaign, zone, due, outreach.hours)
    if chance is None:
        next_call = "none planned" if zone is None else "not within two weeks (the line is closed)"
    elif not enabled:
        next_call = f"once enabled, from {_when(chance, now)}"
    elif chance <= now:
        next_call = f"at the next round (every {round_every:g} s)" if round_every else "at the next run-once"
    else:
        next_call = _when(chance, now)
    return {
        "who": target.context.get("customer_name", ""),
        "number": mask_phone(target.number),
        "why": why,
        "next_call": next_call,
    }


async def campaigns_state(outreach: Outreach, round_every: float = 0.0) -> list[dict[str, Any]]:
    out = []
    now = outreach.clock()
    enabled = await outreach.store.enabled()
    for name, campaign in sorted(outreach.campaigns.items()):
        report = await campaign_status(outreach, name)
        waiting = [
            why_waiting(outreach, campaign, t, enabled=name in enabled, now=now, round_every=round_every)
            for t in await outreach.store.waiting(name)
        ]
        unhappy = [
            {
                "number": mask_phone(str(row["number"])),
                "score": int(row["score"]),
                "about": ", ".join(
                    f"{key} {value}"
                    for key, value in json.loads(str(row["context"])).items()
                    if key in ("order_number", "ticket_number", "serial_number", "product") and value
                ),
                "callback": str(row["callback_state"]) or "not asked",
            }
            for row in await outreach.store.unhappy(name, UNHAPPY_BELOW)
        ]
        out.append(
            {
                **report,
                "trigger": campaign.trigger.value,
                "flow": campaign.flow,
                "window": f"{campaign.window_from:%H:%M}-{campaign.window_to:%H:%M}",
                "unhappy": unhappy,
                "waiting": waiting,
            }
        )
    return out


async def page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    state = await campaigns_state(request.app[OUTREACH], request.app[ROUND_EVERY])
    return render(request, "campaigns.html", campaigns=state)


async def status(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    return web.json_response(await campaigns_state(request.app[OUTREACH], request.app[ROUND_EVERY]))


async def switch(request: web.Request) -> web.Response:
    signed_in = require(request, Role.SUPERVISOR)
    outreach = request.app[OUTREACH]
    name = request.match_info["name"]
    action = str((await read_form(request)).get("action", ""))
    if name not in outreach.campaigns or action not in ("enable", "pause"):
        raise web.HTTPBadRequest(text="A known campaign and action=enable or pause are required.\n")
    who = signed_in.account.username
    await outreach.store.set_enabled(name, action == "enable", who, outreach.clock())
    await request.app[AUDIT].record(who, f"campaign.{action}", name)
    return see_other("/console/campaigns")


def setup_campaigns_page(console: web.Application, outreach: Outreach, *, round_every: float = 0.0) -> None:
    console[OUTREACH] = outreach
    console[ROUND_EVERY] = round_every
    console.router.add_get("/campaigns", page)
    console.router.add_get("/campaigns/status.json", status)
    console.router.add_post("/campaigns/{name}", switch)
