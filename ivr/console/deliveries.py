"""The Deliveries page (supervisors): events the company's endpoint never took, and a retry.

    GET  /deliveries                 counts per state, where events go, the dead letters
    POST /deliveries/{id}/retry      send a dead letter again (audited)

An event refused for a day (`ivr.deliveries`) stops being retried on its own: somebody has to
look at the endpoint, and then at this list. A retry puts the event back in the outbox, due
now and retried for another day; the next delivery round sends it with the same id, so a
receiver that did take it after all recognises it. Bodies hold customers' numbers, so the
page names events by kind, id and time only, and URLs without their query or credentials.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ivr.console.web import AUDIT, render, require
from ivr.events import EventType
from ivr.store.accounts import Role
from ivr.store.event_outbox import EventOutbox

OUTBOX: web.AppKey[EventOutbox] = web.AppKey("event_outbox", EventOutbox)
ROUTES: web.AppKey[dict[str, str]] = web.AppKey("event_routes")
"""Each kind of event → the URL it is sent to ('' for none), for the page."""
SHOWN = 200
"""The newest dead letters the page lists."""


def shown_url(url: str) -> str:
    """A URL as the page shows it: scheme, host and path (a query or user part may hold a token)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _page(
    request: web.Request, *, status: int = 200, message: str = "", error: str = ""
) -> web.Response:
    outbox = request.app[OUTBOX]
    dead: list[dict[str, Any]] = [
        {
            "id": item.id,
            "type": item.type.value,
            "created": _when(item.created_at),
            "given_up": _when(item.done_at),
            "attempts": item.attempts,
            "error": item.last_error,
        }
        for item in await outbox.dead_letters(SHOWN)
    ]
    counts = {state.value: count for state, count in (await outbox.counts()).items()}
    routes = [(kind, shown_url(url)) for kind, url in sorted(request.app[ROUTES].items())]
    return render(
        request,
        "deliveries.html",
        status=status,
        dead=dead,
        counts=counts,
        routes=routes,
        message=message,
        error=error,
    )


async def page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    return await _page(request)


async def retry(request: web.Request) -> web.Response:
    signed_in = require(request, Role.SUPERVISOR)
    ident = request.match_info["event_id"]
    outbox = request.app[OUTBOX]
    if await outbox.retry(ident, signed_in.account.username, time.time(), request.app[AUDIT]):
        return await _page(request, message=f"Event {ident} is sent again in the next few seconds.")
    return await _page(
        request, status=409, error=f"Event {ident} is not a dead letter (any more): nothing was changed."
    )


def setup_deliveries_page(console: web.Application, outbox: EventOutbox, routes: dict[str, str]) -> None:
    console[OUTBOX] = outbox
    console[ROUTES] = {kind.value: routes.get(kind.value, "") for kind in EventType}
    console.router.add_get("/deliveries", page)
    console.router.add_post("/deliveries/{event_id}/retry", retry)
