"""The privacy page: an admin exports or erases everything held about one phone number.

A customer's request to see or erase their data usually reaches a supervisor by e-mail or on
the phone, not someone at the server's shell, so the console does what `ivr privacy export`
and `erase` do (`ivr.store.privacy`), for admins only. Erasing cannot be undone: the form asks
for the number twice, and the audit log names the admin who did it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ivr.bodies import read_form
from ivr.console.web import AUDIT, render, require
from ivr.logs import mask_phone
from ivr.store.accounts import Role
from ivr.store.privacy import erase_number, export_number
from ivr.store.redis import RedisSessionStore

SESSIONS = web.AppKey("privacy_sessions", object)
"""The live sessions' Redis store when the line has one (a number may be in a live call)."""


def _sessions(request: web.Request) -> RedisSessionStore | None:
    sessions = request.app.get(SESSIONS)
    return sessions if isinstance(sessions, RedisSessionStore) else None


def _number(raw: object) -> str:
    """A number as typed, spaces dropped ("+49 151 …" is how people copy them)."""
    return "".join(str(raw).split())


async def privacy_page(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    return render(request, "privacy.html", found=None, number="", message="", error="")


async def privacy_export(request: web.Request) -> web.Response:
    """Everything held about the number, as the JSON file a supervisor can hand over."""
    admin = require(request, Role.ADMIN)
    number = _number((await read_form(request)).get("number", ""))
    if not number.startswith("+") or not number[1:].isdigit():
        return render(request, "privacy.html", status=400, found=None, number=number, message="",
                      error="Type the number in E.164 form, like +4915112345678.")  # fmt: skip
    found = await export_number(request.app[AUDIT].sql, number, _sessions(request))
    await request.app[AUDIT].record(admin.account.username, "privacy.export", mask_phone(number))
    return web.Response(
        text=await asyncio.to_thread(found.to_json),  # a frequent caller's file runs to megabytes
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="privacy-{number[1:]}.json"'},
    )


async def privacy_erase(request: web.Request) -> web.Response:
    """Erase after the number was typed twice the same (there is no undo)."""
    admin = require(request, Role.ADMIN)
    form = await read_form(request)
    number, again = _number(form.get("number", "")), _number(form.get("confirm", ""))
    if number != again:
        return render(request, "privacy.html", status=400, found=None, number=number, message="",
                      error="Nothing was erased: type the same number in both boxes.")  # fmt: skip
    try:
        done = await erase_number(
            request.app[AUDIT].sql, number, actor=admin.account.username, sessions=_sessions(request)
        )
    except ValueError as exc:
        return render(
            request, "privacy.html", status=400, found=None, number=number, message="", error=str(exc)
        )
    what = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(done.erased.items()))
    message = f"Erased {mask_phone(number)}: {what or 'nothing was held'}."
    return render(request, "privacy.html", found=None, number="", message=message, error="")


def setup_privacy(console: web.Application, sessions: RedisSessionStore | None) -> None:
    console[SESSIONS] = sessions
    console.router.add_get("/privacy", privacy_page)
    console.router.add_post("/privacy/export", privacy_export)
    console.router.add_post("/privacy/erase", privacy_erase)
