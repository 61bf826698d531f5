"""The dev phone: a sandbox number's phone in the console (IVR_TELEPHONY=sandbox only).

The page shows the calls ringing the number, what the line says, a keypad, a box to speak
into (typed words) and the texts the number received. It talks to the sandbox's phone API
(`ivr.sandbox.phones`), the same one `ivr phone` uses. What the line said can be heard: the
`Listen` button synthesises one thing the line said to this number, with the console's own
low-priority synthesiser (`ConsoleAudio`), never arbitrary text.

A dev phone shows what the line told that number (orders, tracking digits), so an agent may
open only their own (the account's phone); supervisors and admins may open any, a customer's
included, as they may read any transcript.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from ivr.bodies import read_json
from ivr.console.prompt_audio import ConsoleAudio, TooLong
from ivr.console.web import TEMPLATES, render, require
from ivr.sandbox.network import Network
from ivr.speech.tts import SynthesisError
from ivr.store.accounts import AccountStore, Role, SignedIn

log = logging.getLogger(__name__)

SANDBOX = web.AppKey("dev_phone_network", Network)
DEV_AUDIO = web.AppKey("dev_phone_audio", ConsoleAudio)
DEV_ACCOUNTS = web.AppKey("dev_phone_accounts", AccountStore)
_NUMBER = re.compile(r"\+[1-9]\d{6,14}")


def setup_dev_phone(
    console: web.Application, network: Network | None, *, audio: ConsoleAudio, accounts: AccountStore
) -> None:
    console[TEMPLATES].globals["sandbox"] = network is not None  # the menu links to the dev phones
    if network is None:
        console.router.add_get("/phone", not_set_up)
        console.router.add_get("/phone/{number}", not_set_up)
        return
    console[SANDBOX] = network
    console[DEV_AUDIO] = audio
    console[DEV_ACCOUNTS] = accounts
    console.router.add_get("/phone", phones)
    console.router.add_get("/phone/{number}", page)
    console.router.add_post("/phone/{number}/listen", listen)
    console.router.add_get("/phone/{number}/audio/{audio_id}.wav", audio_file)


async def not_set_up(request: web.Request) -> web.Response:
    require(request, Role.AGENT)
    return render(request, "dev_phone_off.html", status=404)


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not _NUMBER.fullmatch(number):
        raise web.HTTPNotFound(text="Not a phone number.\n")
    return number


def _phone_of_someone_allowed(request: web.Request) -> str:
    """The page's number, if whoever asks may use its dev phone (403 otherwise)."""
    signed_in = require(request, Role.AGENT)
    number = _number(request)
    if not _may_use(signed_in, number):
        log.warning("dev_phone_forbidden: %s tried %s", signed_in.account.username, request.path)
        raise web.HTTPForbidden(text="An agent may open only their own dev phone.\n")
    return number


def _may_use(signed_in: SignedIn, number: str) -> bool:
    return signed_in.account.role.allows(Role.SUPERVISOR) or signed_in.account.phone == number


async def phones(request: web.Request) -> web.Response:
    """The sandbox numbers: the agents', the demo customers', and any the line has called
    (an agent sees only their own)."""
    signed_in = require(request, Role.AGENT)
    if _NUMBER.fullmatch(wanted := request.query.get("number", "").strip()):
        raise web.HTTPSeeOther(f"/console/phone/{wanted}")
    network = request.app[SANDBOX]
    agents = {a.phone: a.display_name for a in await request.app[DEV_ACCOUNTS].list() if a.phone}
    numbers = dict.fromkeys(n for n in [*agents, *network.phones] if _may_use(signed_in, n))
    return render(
        request,
        "dev_phones.html",
        numbers=[(n, agents.get(n, "")) for n in numbers],
        mine=signed_in.account.phone,
        line=network.account.phone_number,
    )


async def page(request: web.Request) -> web.Response:
    number = _phone_of_someone_allowed(request)
    network = request.app[SANDBOX]
    return render(request, "dev_phone.html", number=number, line=network.account.phone_number)


async def listen(request: web.Request) -> web.Response:
    """Audio of one thing the line said to this number (`{"event": id}`)."""
    number = _phone_of_someone_allowed(request)
    try:
        body = await read_json(request)
        event_id = int(body["event"])
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text='send {"event": id}\n') from None
    said = [e for e in request.app[SANDBOX].phone(number).events if e.id == event_id and e.kind == "say"]
    if not said:
        raise web.HTTPNotFound(text="The line said nothing like that to this number (or it is forgotten).\n")
    try:
        audio_id = await request.app[DEV_AUDIO].audio_id(said[0].text)
    except TooLong as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except SynthesisError as exc:
        log.error("%s: dev phone: %s", exc.code, exc)
        return web.json_response({"error": "That could not be synthesised."}, status=503)
    return web.json_response({"audio": f"/console/phone/{number}/audio/{audio_id}.wav"})


async def audio_file(request: web.Request) -> web.StreamResponse:
    _phone_of_someone_allowed(request)
    path = request.app[DEV_AUDIO].path_for(request.match_info["audio_id"])
    if path is None:
        raise web.HTTPNotFound(text="No such recording.\n")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})
