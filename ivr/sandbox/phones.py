"""The sandbox's phone API: what `ivr phone` and the console's dev phone page use.

    GET  /sandbox/phones/{number}/events?after=ID   long-polls (up to 25 s) for newer events
    POST /sandbox/phones/{number}/call              {}                  the phone calls the line
    POST /sandbox/phones/{number}/answer            {"call": sid}       picks up a ringing call
                                                    (+ "answered_by": "machine_start": a voicemail box)
    POST /sandbox/phones/{number}/keys              {"call": sid, "keys": "4512#"}
    POST /sandbox/phones/{number}/say               {"call": sid, "text": "where is my order"}
    POST /sandbox/phones/{number}/record?call=sid   a WAV body: the message for a <Record>
    POST /sandbox/phones/{number}/hangup            {"call": sid}

Bodies are JSON (a web page elsewhere cannot send that cross-site without the browser
asking first, and nobody answers that question), and only loopback clients are served:
the sandbox is a tool on the developer's own machine, never a public service. So a request
must also name this machine in its Host (the line's PUBLIC_URL host, `localhost` or a
loopback address): a web page whose own name was made to resolve to 127.0.0.1 (DNS
rebinding) sends its own name. And a request that came through a proxy (X-Forwarded-For,
Forwarded, X-Real-IP: nginx or a tunnel on this machine) is refused, since its loopback
address is the proxy's, not the sender's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from ivr.bodies import read_json
from ivr.sandbox.account import SandboxError
from ivr.sandbox.network import Network

PREFIX = "/sandbox/phones"
NETWORK: web.AppKey[Network] = web.AppKey("sandbox_network", Network)
LONG_POLL = 25.0
MAX_RECORDING = 5_000_000
"""Bytes of WAV a phone may send as a recorded message (about five minutes at 8 kHz)."""
MAX_EVENT_DIGITS = 18
"""An event id fits in 18 digits; `int()` of a longer string costs time (and past 4,300
digits raises), so such an `after` is refused before it is read."""
_NUMBER = re.compile(r"\+[1-9]\d{6,14}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_phone_routes(app: web.Application, network: Network) -> None:
    app[NETWORK] = network
    number = PREFIX + "/{number}"
    app.router.add_get(PREFIX, phones)
    app.router.add_get(number + "/events", events)
    for action, handler in (
        ("call", call),
        ("answer", answer),
        ("keys", keys),
        ("say", say),
        ("record", record),
        ("hangup", hang_up),
    ):
        app.router.add_post(f"{number}/{action}", _guarded(handler))


PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
"""Headers a proxy adds: their presence means the loopback peer is a proxy for someone else."""


def _loopback(address: str) -> bool:
    """Whether `address` (an IP address, IPv6 with or without brackets) is this machine's."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(url: str) -> str:
    """The host name in `url`, lower case; "" if there is none or it does not parse."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # an unclosed '[' in a Host header
        return ""


def _local(request: web.Request) -> None:
    if not _loopback(request.remote or ""):
        raise web.HTTPForbidden(text="The sandbox's phones answer only on this machine.\n")
    if any(header in request.headers for header in PROXY_HEADERS):
        raise web.HTTPForbidden(text="The sandbox's phones do not answer through a proxy.\n")
    host = _hostname(f"//{request.host}")
    line_host = _hostname(request.app[NETWORK].line_url)
    if host not in (line_host, "localhost") and not _loopback(host):
        raise web.HTTPMisdirectedRequest(
            text=f"The sandbox's phones answer only as {line_host or 'localhost'}.\n"
        )


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not _NUMBER.fullmatch(number):
        raise web.HTTPBadRequest(text=f"'{number}' is not an E.164 number like +15550100001\n")
    return number


async def phones(request: web.Request) -> web.Response:
    """The sandbox numbers seen so far, most recent last."""
    _local(request)
    return web.json_response({"phones": list(request.app[NETWORK].phones)})


async def events(request: web.Request) -> web.Response:
    _local(request)
    after = request.query.get("after", "0")
    if not (after.isdigit() and len(after) <= MAX_EVENT_DIGITS):
        raise web.HTTPBadRequest(text="after must be an event id\n")
    phone = request.app[NETWORK].phone(_number(request))
    found = await phone.wait(int(after), LONG_POLL if request.query.get("wait") != "0" else 0)
    return web.json_response({"number": phone.number, "events": [event.as_json() for event in found]})


def _guarded(handler: Callable[[web.Request, Network, str], Awaitable[web.Response]]) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        _local(request)
        if request.content_type not in ("application/json", "audio/wav", "audio/x-wav"):
            raise web.HTTPUnsupportedMediaType(text="send JSON (or a WAV recording)\n")
        try:
            return await handler(request, request.app[NETWORK], _number(request))
        except SandboxError as exc:
            return web.json_response({"error": str(exc)}, status=409)

    return guarded


async def _fields(request: web.Request, *names: str) -> list[str]:
    try:
        body = await read_json(request)
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON\n") from None
    if not isinstance(body, dict) or any(not isinstance(body.get(name), str) for name in names):
        raise web.HTTPBadRequest(text=f"send a JSON object with {', '.join(names)}\n")
    return [body[name] for name in names]


async def call(request: web.Request, network: Network, number: str) -> web.Response:
    return web.json_response({"call": network.dial(number)}, status=201)


async def answer(request: web.Request, network: Network, number: str) -> web.Response:
    (sid,) = await _fields(request, "call")
    body = await read_json(request)
    network.answer(number, sid, str(body.get("answered_by", "human")))
    return web.json_response({"call": sid})


async def keys(request: web.Request, network: Network, number: str) -> web.Response:
    sid, pressed = await _fields(request, "call", "keys")
    network.press(number, sid, pressed)
    return web.json_response({"call": sid})


async def say(request: web.Request, network: Network, number: str) -> web.Response:
    sid, text = await _fields(request, "call", "text")
    network.say(number, sid, text)
    return web.json_response({"call": sid})


async def record(request: web.Request, network: Network, number: str) -> web.Response:
    sid = request.query.get("call", "")
    audio = await request.content.read(MAX_RECORDING + 1)
    if len(audio) > MAX_RECORDING or not audio.startswith(b"RIFF"):
        raise web.HTTPBadRequest(text="send a WAV recording of at most 5 MB\n")
    network.record(number, sid, audio)
    return web.json_response({"call": sid})


async def hang_up(request: web.Request, network: Network, number: str) -> web.Response:
    (sid,) = await _fields(request, "call")
    network.hang_up(number, sid)
    return web.json_response({"call": sid})
