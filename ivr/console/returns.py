"""The console's Returns list (agents and supervisors): every return the line started, newest first.

    GET  /returns        the page
    GET  /returns.json   the same rows as JSON

An agent taking a caller about a return sees its number, order, product and reason here
without asking again. Caller numbers are masked, as on the campaigns page: the return is
found by its number or order, and the desk shows a caller's number to whoever takes them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.console.web import render, require
from ivr.logs import mask_phone
from ivr.store.accounts import Role
from ivr.store.returns import SqlReturns

RETURNS: web.AppKey[SqlReturns] = web.AppKey("returns", SqlReturns)
SHOWN = 200
"""The newest returns the page lists; older ones stay in the database."""


async def returns_rows(returns: SqlReturns) -> list[dict[str, Any]]:
    return [
        {
            "rma": record.rma,
            "started_on": record.started_on.isoformat(),
            "order_number": record.order_number,
            "product": record.product,
            "reason": record.reason.value,
            "status": record.status.value,
            "language": record.language,
            "caller": mask_phone(record.caller),
        }
        for record in await returns.recent(SHOWN)
    ]


async def page(request: web.Request) -> web.Response:
    require(request, Role.AGENT)
    return render(request, "returns.html", returns=await returns_rows(request.app[RETURNS]))


async def listing(request: web.Request) -> web.Response:
    require(request, Role.AGENT)
    return web.json_response(await returns_rows(request.app[RETURNS]))


def setup_returns_page(console: web.Application, returns: SqlReturns) -> None:
    console[RETURNS] = returns
    console.router.add_get("/returns", page)
    console.router.add_get("/returns.json", listing)
