"""The agent desk: the console page where people take callers, callbacks and voicemails.

Routes (on the console sub-app, so under `/console`; every one needs at least the agent
role, and every POST the session's CSRF token, see `ivr.console.web`):

    GET  /agent                             the desk page (renders from the live feed)
    GET  /agent/events                      server-sent events: `snapshot` whenever the desk changed
    POST /agent/status                      {"status": "available" | "busy" | "offline"}
    POST /agent/take                        {"entry_id": "…"} or {} for the next caller
    POST /agent/callbacks/{id}/call         place a callback (the service rings the agent first)
    POST /agent/voicemails/{id}/done        mark a voicemail worked through
    GET  /agent/voicemails/{id}/audio       the recording, for the page's <audio> player
    GET  /agent/calls/{call_sid}/transcript what the bot and the caller said (agents: calls
                                            handed to agents; supervisors: any; audited)
    POST /agent/emergency                   {"closed": true | false} (supervisors and admins)

POSTs answer JSON: `{"ok": true, …}` or `{"ok": false, "code": "…", "message": "…"}` with a
plain sentence the page shows as it is.

Caller numbers: the desk shows a caller's number in full only when the flow verified the
caller (`context["verified"] == "yes"`: their caller ID or postal code matched an order on
file). Anyone else's number is masked (`+1•••••0123`): agents talk to callers through the
service, which dials them, so an agent never needs an unverified stranger's number, and a
shared screen does not leak it. Logs only ever carry masked numbers.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.agents.desk import AgentDesk
from ivr.agents.model import (
    AgentStatus,
    DeskError,
    DeskErrorCode,
    EntryState,
    QueueEntry,
    TranscriptStatus,
    Voicemail,
)
from ivr.bodies import read_json
from ivr.console.live import EventStreams, LiveFeed
from ivr.console.web import AUDIT, SECURITY_HEADERS, render, require
from ivr.store.accounts import Role, SignedIn

log = logging.getLogger(__name__)

DESK = web.AppKey("agent_desk", AgentDesk)
FEED = web.AppKey("agent_desk_feed", LiveFeed)
STREAMS = web.AppKey("agent_desk_streams", EventStreams)
VOICEMAIL_DIR = web.AppKey("voicemail_dir", Path)
MASK = "•"
UNREADABLE = "The page sent something the desk cannot read. Reload the page."
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PageErrorCode(StrEnum):
    """Stable codes of the page's own refusals (the desk's `DeskErrorCode`s pass through)."""

    BAD_REQUEST = "desk_bad_request"
    """The page sent something the desk cannot read (an old page, a hand-made request)."""


@dataclass(frozen=True, slots=True)
class Refusal(Exception):
    """A desk request that cannot be done; `message` is shown to the agent as it is."""

    code: str
    message: str
    status: int = 409


def show_number(number: str, context: Mapping[str, str]) -> str:
    """The caller's number as the desk shows it: whole only for a caller the flow verified."""
    if context.get("verified") == "yes" or not number:
        return number
    if len(number) <= 6:
        return MASK * len(number)
    return number[:2] + MASK * (len(number) - 6) + number[-4:]


NO_TRANSCRIPT = {
    TranscriptStatus.PENDING: "The recording is still being fetched and transcribed.",
    TranscriptStatus.WORKING: "The recording is being transcribed.",
    TranscriptStatus.NO_MODEL: "No speech model is installed here: listen to the recording.",
    TranscriptStatus.DONE: "The caller said nothing that could be recognised: listen to the recording.",
    TranscriptStatus.FAILED: "The recording could not be transcribed.",
}


def _entry(entry: QueueEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "call_sid": entry.call_sid,
        "caller": show_number(entry.caller, entry.context),
        "reason": entry.reason,
        "context": dict(entry.context),
        "skill": entry.skill,
        "enqueued_at": entry.enqueued_at,
        "position": entry.position,
        "state": entry.state.value,
        "offered_to": entry.offered_to,
    }


def _voicemail(voicemail: Voicemail) -> dict[str, Any]:
    why = "" if voicemail.transcript else voicemail.problem or NO_TRANSCRIPT[voicemail.transcript_status]
    return {
        "id": voicemail.id,
        "call_sid": voicemail.call_sid,
        "caller": show_number(voicemail.caller, voicemail.context),
        "reason": voicemail.reason,
        "context": dict(voicemail.context),
        "recorded_at": voicemail.created_at,
        "has_audio": bool(voicemail.audio_file),
        "transcript": voicemail.transcript,
        "no_transcript": why,
    }


async def desk_state(desk: AgentDesk) -> dict[str, Any]:
    """What every desk page shows, as JSON; the same for every viewer (numbers already masked).

    Waiting times are not here: each entry carries when it was queued and the page ticks the
    clock itself, so the state only changes when something happened. Callers already bridged
    stay listed (as `bridged`, with their agent) while the call lasts, so the agent talking to
    them still has their context on screen.
    """
    snapshot = await desk.snapshot()
    queue = list(snapshot.queue)
    for agent in snapshot.agents:
        if agent.status is AgentStatus.ON_CALL and agent.on_call_with:
            entry = await desk.store.queue.for_call(agent.on_call_with)
            if entry is not None and entry.state is EntryState.BRIDGED:
                queue.append(entry)
    return {
        "agents": [
            {"username": a.username, "name": a.display_name or a.username, "status": a.status.value}
            for a in snapshot.agents
        ],
        "queue": [_entry(e) for e in queue],
        "callbacks": [
            {
                "id": c.id,
                "call_sid": c.call_sid,
                "number": show_number(c.number, c.context),
                "reason": c.reason,
                "context": dict(c.context),
                "attempts": c.attempts,
                "state": c.state.value,
                "agent": c.agent,
                "last_error": c.last_error,
                "requested_at": c.requested_at,
            }
            for c in snapshot.callbacks
        ],
        "voicemails": [_voicemail(v) for v in snapshot.voicemails],
        "emergency_closed": snapshot.emergency_closed,
    }


def _who(signed_in: SignedIn) -> str:
    return signed_in.account.username


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await read_json(request)
    except ValueError:
        raise Refusal(PageErrorCode.BAD_REQUEST, UNREADABLE, 400) from None
    if not isinstance(body, dict):
        raise Refusal(PageErrorCode.BAD_REQUEST, UNREADABLE, 400)
    return body


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


SAY = {
    DeskErrorCode.NO_PHONE: "No phone number on your account: ask an admin to add one.",
    DeskErrorCode.NOTHING_TO_TAKE: "No caller is waiting for you.",
    DeskErrorCode.NO_TELEPHONY: "The line cannot place calls (no Twilio account is set up): ask an admin.",
    DeskErrorCode.TELEPHONY_FAILED: "Your phone could not be rung. Try again in a moment.",
}
"""The desk's refusals in the console's words, where its own message is not enough for the page."""
STATUS = {
    DeskErrorCode.NOT_FOUND: 404,
    DeskErrorCode.BAD_STATUS: 400,
    DeskErrorCode.NO_TELEPHONY: 503,
    DeskErrorCode.TELEPHONY_FAILED: 502,
}


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")


def _refusal(exc: DeskError) -> Refusal:
    return Refusal(exc.code.value, SAY.get(exc.code) or _sentence(str(exc)), STATUS.get(exc.code, 409))


def answers_json(handler: Handler) -> Handler:
    """Turn a desk refusal into the JSON answer the page shows; log it without numbers."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DeskError as exc:
            refusal = _refusal(exc)
        except Refusal as exc:
            refusal = exc
        log.info("desk_refused: %s %s: %s", request.method, request.path, refusal.code)
        return web.json_response(
            {"ok": False, "code": refusal.code, "message": refusal.message}, status=refusal.status
        )

    return wrapped


async def page(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    return render(
        request,
        "agent.html",
        username=_who(signed_in),
        may_switch_emergency=signed_in.account.role.allows(Role.SUPERVISOR),
    )


async def events(request: web.Request) -> web.StreamResponse:
    require(request, Role.AGENT)
    app = request.app
    return await app[STREAMS].serve(request, app[FEED], SECURITY_HEADERS)


@answers_json
async def set_status(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    body = await _json_body(request)
    try:
        status = AgentStatus(str(body.get("status", "")))
    except ValueError:
        raise Refusal(PageErrorCode.BAD_REQUEST, "Choose available, busy or offline.", 400) from None
    await request.app[DESK].set_status(_who(signed_in), status)
    log.info("agent_status: %s is %s", _who(signed_in), status)
    return _ok(status=str(status))


@answers_json
async def take(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    body = await _json_body(request)
    entry_id = body.get("entry_id")
    if entry_id is not None and not isinstance(entry_id, str):
        raise Refusal(PageErrorCode.BAD_REQUEST, UNREADABLE, 400)
    desk = request.app[DESK]
    try:
        entry = await desk.offers.take(_who(signed_in), entry_id or None)
    except DeskError as exc:
        taken = (
            await desk.store.queue.get(entry_id)
            if entry_id and exc.code is DeskErrorCode.ALREADY_TAKEN
            else None
        )
        if taken is None or not taken.offered_to or taken.offered_to == _who(signed_in):
            raise
        names = {a.username: a.display_name or a.username for a in await desk.agents()}
        who = names.get(taken.offered_to, taken.offered_to)
        raise Refusal(exc.code.value, f"That caller was taken by {who}.") from None
    log.info("agent_take: %s was offered queue entry %s", _who(signed_in), entry.id)
    return _ok(entry_id=str(entry.id))


@answers_json
async def call_back(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    callback_id = request.match_info["callback_id"]
    await request.app[DESK].offers.take_callback(_who(signed_in), callback_id)
    log.info("agent_callback: %s took callback %s", _who(signed_in), callback_id)
    return _ok()


@answers_json
async def voicemail_done(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    voicemail_id = request.match_info["voicemail_id"]
    await request.app[DESK].mark_voicemail_done(voicemail_id, _who(signed_in))
    log.info("voicemail_done: %s by %s", voicemail_id, _who(signed_in))
    return _ok()


async def voicemail_audio(request: web.Request) -> web.StreamResponse:
    """The recording, only to signed-in agents (it is the caller's voice: never a public URL)."""
    require(request, Role.AGENT)
    voicemail = await request.app[DESK].store.voicemails.get(request.match_info["voicemail_id"])
    directory = request.app[VOICEMAIL_DIR]
    path = directory / voicemail.audio_file if voicemail and voicemail.audio_file else None
    # The name comes from our own database; still, nothing outside the directory is served.
    if path is None or path.resolve().parent != directory.resolve() or not path.is_file():
        raise web.HTTPNotFound(text="There is no recording for this voicemail.\n")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store"})


async def transcript(request: web.Request) -> web.Response:
    """What the bot and a caller said: personal data, so agents read only the calls that came
    to the agents (the callers they take), supervisors any call; every reading is audited."""
    signed_in = require(request, Role.AGENT)
    call_sid = request.match_info["call_sid"]
    desk, audit = request.app[DESK], request.app[AUDIT]
    if not signed_in.account.role.allows(Role.SUPERVISOR) and not await desk.handed_to_agents(call_sid):
        await audit.record(_who(signed_in), "transcript.refused", call_sid)
        log.warning("transcript_refused: %s asked for a call not handed to agents", _who(signed_in))
        raise web.HTTPForbidden(
            text="Agents see the transcripts of calls handed to agents only; ask a supervisor.\n"
        )
    lines = await desk.transcript(call_sid)
    await audit.record(_who(signed_in), "transcript.view", call_sid, f"{len(lines)} lines")
    return render(request, "transcript.html", call_sid=call_sid, lines=lines, status=200 if lines else 404)


@answers_json
async def emergency(request: web.Request) -> web.Response:
    signed_in = require(request, Role.SUPERVISOR)
    body = await _json_body(request)
    closed = body.get("closed")
    if not isinstance(closed, bool):
        raise Refusal(PageErrorCode.BAD_REQUEST, UNREADABLE, 400)
    await request.app[DESK].set_emergency_closed(closed, _who(signed_in))
    log.warning("emergency_closed: %s by %s", closed, _who(signed_in))
    return _ok(closed=closed)


async def not_set_up(request: web.Request) -> web.Response:
    require(request, Role.AGENT)
    return render(request, "agent_off.html", status=503)


def setup_agent_desk(console: web.Application, desk: AgentDesk | None, *, voicemail_dir: Path) -> None:
    """Add the desk's routes to the console sub-app; its live feed ends with the app.

    Without a desk (no Twilio account to place agents' calls with) the desk page says so,
    rather than the console's agent home being a 404.
    """
    if desk is None:
        console.router.add_get("/agent", not_set_up)
        return
    console[DESK] = desk
    console[VOICEMAIL_DIR] = voicemail_dir
    feed = LiveFeed(lambda: desk_state(desk))
    streams = EventStreams()
    console[FEED] = feed
    console[STREAMS] = streams
    console.on_shutdown.append(streams.shutdown)

    async def stop_feed(_: web.Application) -> None:
        await feed.close()

    console.on_cleanup.append(stop_feed)
    console.router.add_get("/agent", page)
    console.router.add_get("/agent/events", events)
    console.router.add_post("/agent/status", set_status)
    console.router.add_post("/agent/take", take)
    console.router.add_post("/agent/callbacks/{callback_id}/call", call_back)
    console.router.add_post("/agent/voicemails/{voicemail_id}/done", voicemail_done)
    console.router.add_get("/agent/voicemails/{voicemail_id}/audio", voicemail_audio)
    console.router.add_get("/agent/calls/{call_sid}/transcript", transcript)
    console.router.add_post("/agent/emergency", emergency)
