"""The line's own HTTP handlers: Twilio's voice webhooks, prompt audio, the media-stream
websocket, health, readiness and metrics. Each is thin: it reads the request and hands the
work to the line (`ivr.line`) or the media-stream adapter."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from aiohttp import WSCloseCode, web

from ivr.agents.web import AGENT_LINE
from ivr.forwarded import client_address
from ivr.mediastream.call import StreamCall
from ivr.metrics import CONTENT_TYPE
from ivr.session import FINAL_STATUSES
from ivr.store.backends import StoresUnavailable
from ivr.web.keys import (
    ADMISSION,
    AUDIO,
    LINE,
    METRICS,
    PROXIES,
    STORES,
    STREAM_SIGNATURE,
    STREAM_SPEECH,
    STREAMS,
)
from ivr.webhooks import signed_form

log = logging.getLogger(__name__)


MAX_STREAMS = 200
"""Media streams one process takes (recognition measured ~66 streams per core; streams also
synthesise). Past it the websocket is refused: Twilio asks `<Connect action>`, which can land
on another instance behind the load balancer."""


def timed(kind: str) -> Callable[[web.Request], contextlib.AbstractContextManager[object]]:
    """Observe each request as one webhook of `kind` in `/metrics`."""
    return lambda request: request.app[METRICS].timed(kind)


def _call_sid(params: dict[str, str]) -> str:
    if "CallSid" not in params:
        raise web.HTTPBadRequest(text="CallSid is missing.\n")
    return params["CallSid"]


async def voice(request: web.Request, params: dict[str, str]) -> str:
    _call_sid(params)
    return await request.app[LINE].answer(params)


async def voice_turn(request: web.Request, params: dict[str, str]) -> str:
    seq = request.query.get("seq", "")
    if "CallSid" not in params or not seq.isdigit():
        raise web.HTTPBadRequest(text="CallSid and a numeric seq are required.\n")
    return await request.app[LINE].turn(int(seq), params, request.query)


async def voice_status(request: web.Request, params: dict[str, str]) -> None:
    await request.app[LINE].status(params)
    agent_line = request.app.get(AGENT_LINE)
    if agent_line is not None and params.get("CallStatus", "") in FINAL_STATUSES:
        await agent_line.desk.call_ended(params.get("CallSid", ""))
        agent_line.wake()


def queue_number(value: str | None) -> int:
    """A whole number from Twilio's queue parameters; anything else counts as 0."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


async def stream_ended(request: web.Request, params: dict[str, str]) -> str:
    _call_sid(params)
    return await request.app[LINE].stream_ended(params)


async def after_transfer(request: web.Request, params: dict[str, str]) -> str:
    return request.app[LINE].after_transfer(params, request.query.get("language", ""))


def line_fallback(request: web.Request) -> str:
    """Apologise and hand the caller to a person, in the caller's language (needs no flow,
    store or synthesiser)."""
    line = request.app[LINE]
    return line.fallback(line.fault_language(signed_form(request), request.query))


async def audio(request: web.Request) -> web.StreamResponse:
    cache = request.app.get(AUDIO)
    path = cache.path_for(request.match_info["audio_id"]) if cache else None
    if path is None:
        raise web.HTTPNotFound(text="No such prompt audio.\n")
    return web.FileResponse(
        path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, max-age=86400"}
    )


async def media(request: web.Request) -> web.StreamResponse:
    """Twilio Media Streams connect here (bidirectional audio for one call)."""
    speech = request.app.get(STREAM_SPEECH)
    if speech is None:
        raise web.HTTPNotFound(text="Local speech is not enabled (IVR_SPEECH=local).\n")
    line = request.app[LINE]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not request.app[STREAM_SIGNATURE].valid(request.path_qs, {}, signature):
        # Twilio signs the handshake of every stream it opens; nothing else may open one.
        log.warning(
            "signature_invalid: websocket %s (%s)", request.path, "missing" if not signature else "wrong"
        )
        raise web.HTTPForbidden(text="Invalid or missing X-Twilio-Signature.\n")
    streams, admission = request.app[STREAMS], request.app[ADMISSION]
    if admission.streaming >= MAX_STREAMS:
        log.warning("stream_capacity: %s media streams open; refusing another", admission.streaming)
        raise web.HTTPServiceUnavailable(text="This instance is at its media stream capacity.\n")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    streams.add(ws)
    address = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", ()), request.app[PROXIES]
    )
    for stale in admission.admit(ws, address):
        log.warning("stream_evicted: a websocket sent no start while others waited; closing it")
        await stale.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no start")
    try:
        call = StreamCall(ws, line.flows, line.sessions, speech, line.stream_secret)
        await call.run(on_identified=lambda: admission.identified(ws))
    finally:
        admission.gone(ws)
        streams.discard(ws)
    return ws


async def healthz(_: web.Request) -> web.Response:
    """The process is alive (it may not be able to take calls: see `readyz`)."""
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """Ready for calls: the database and (if configured) Redis answer within about a second."""
    try:
        await request.app[STORES].ping()
    except StoresUnavailable as exc:
        log.warning("not_ready: %s", exc)  # the reasons (driver messages) stay in the log
        return web.json_response({"ready": False, "down": sorted(exc.down)}, status=503)
    return web.json_response({"ready": True, "down": []})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
