"""The console's campaigns page (supervisors and admins): turn each campaign on or off, watch
its progress and scores, and see the unhappy customers with the state of their callback.

    GET  /campaigns               the page (reloads itself every 15 s: live progress)
    GET  /campaigns/status.json   the same numbers as JSON (`ivr campaigns status --json` per campaign)
    POST /campaigns/{name}        action=enable|pause, with the CSRF token; audited

Numbers are masked, as on the agent desk: the page is for seeing how a campaign goes, and
agents call customers back from the desk, where the number is shown to whoever takes it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ivr.bodies import read_form
from ivr.console.web import AUDIT, render, require, see_other
from ivr.logs import mask_phone
from ivr.outreach.service import Outreach, campaign_status
from ivr.outreach.web import OUTREACH
from ivr.store.accounts import Role

UNHAPPY_BELOW = 4
"""Scores below this are unhappy customers (1 to 3), as the follow-up flow treats them."""


async def campaigns_state(outreach: Outreach) -> list[dict[str, Any]]:
    out = []
    for name, campaign in sorted(outreach.campaigns.items()):
        report = await campaign_status(outreach, name)
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
            }
        )
    return out


async def page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    return render(request, "campaigns.html", campaigns=await campaigns_state(request.app[OUTREACH]))


async def status(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    return web.json_response(await campaigns_state(request.app[OUTREACH]))


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


def setup_campaigns_page(console: web.Application, outreach: Outreach) -> None:
    console[OUTREACH] = outreach
    console.router.add_get("/campaigns", page)
    console.router.add_get("/campaigns/status.json", status)
    console.router.add_post("/campaigns/{name}", switch)
