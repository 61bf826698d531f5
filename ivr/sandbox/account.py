"""A local stand-in for one Twilio account's REST API that the real `twilio` client reaches over loopback.

The sandbox telephone network (`ivr sandbox`, `IVR_TELEPHONY=sandbox`) and the test suite run
this same code, so the demo and the tests exercise one stand-in. It is a real aiohttp app
that answers the endpoints the line uses (create a call, update a call, download a
recording) the way Twilio does: basic auth with the account SID and auth token, JSON call
resources, Twilio's error bodies and numbers. It records every request so a test can
assert what the line asked Twilio to do, can fail the next requests (500, 429…) so a test
can watch the line cope, and plays Twilio's side afterwards: `answer` fetches a placed
call's TwiML and `post_status` sends a signed status callback, both as Twilio would.

    async with running_account(auth_token) as twilio:
        telephony = TwilioTelephony(..., api_base=twilio.api_base)
        twilio.deliver_to(PUBLIC_URL, server_url)    # where the line really listens
        sid = await telephony.place_call(...)
        await twilio.post_status(sid, "no-answer")
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Protocol

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from ivr.bodies import read_form
from ivr.config import SANDBOX_ACCOUNT_SID, SANDBOX_NUMBER

ACCOUNT_SID = SANDBOX_ACCOUNT_SID
"""The sandbox account's SID (fixed, so the line's settings can name it)."""
LINE_NUMBER = SANDBOX_NUMBER
"""The line's own number in the sandbox: the only caller ID the sandbox account may use."""
TWILIO_HOST = "https://api.twilio.com"
API = "/2010-04-01/Accounts/{account_sid}"

HISTORY = 500
"""Requests and messages kept; older ones are dropped (the sandbox runs for days in a demo)."""
MAX_RECORDINGS = 50

PROGRESS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
ENDED = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
LIVE = frozenset({"queued", "initiated", "ringing", "in-progress"})
_EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One request the sandbox received, as the line sent it."""

    method: str
    path: str
    """URL path, e.g. ``/2010-04-01/Accounts/AC…/Calls.json``."""
    form: tuple[tuple[str, str], ...]
    """Form fields in the order sent; a field may repeat (``StatusCallbackEvent``)."""
    authorized: bool
    """Whether the basic-auth credentials were the account's."""

    def get(self, name: str) -> str | None:
        """The last value of form field `name`, or None."""
        values = self.getall(name)
        return values[-1] if values else None

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.form if key == name]


@dataclass(slots=True)
class SandboxCall:
    """A call as the sandbox account knows it."""

    sid: str
    to: str
    from_: str
    direction: str
    """``outbound-api`` for calls the line placed, ``inbound`` for callers (`add_live_call`)."""
    status: str
    url: str
    """Where Twilio fetches the call's TwiML: the create URL, then the last redirect."""
    status_callback: str = ""
    status_callback_events: tuple[str, ...] = ("completed",)
    """What Twilio reports to `status_callback`; only ``completed`` when none were asked for."""
    timeout: int | None = None
    """Seconds it may ring, as the line asked."""
    redirects: list[str] = field(default_factory=list)
    """Every URL the call was redirected to, in order."""
    callbacks_sent: int = 0
    machine_detection: str = ""
    """``Enable`` or ``DetectMessageEnd`` when the line asked who answers (`AnsweredBy`)."""
    answered_by: str | None = None
    """``human``, ``machine_start``… once answered, when `machine_detection` was asked for."""


@dataclass(frozen=True, slots=True)
class SandboxMessage:
    """A text the line sent."""

    sid: str
    to: str
    from_: str
    body: str


class Listener(Protocol):
    """Who plays the calls the account is asked about (the sandbox `Network`); tests play them by hand."""

    def placed(self, call: SandboxCall) -> None: ...

    def redirected(self, call: SandboxCall) -> None: ...

    def hung_up(self, call: SandboxCall, status: str) -> None: ...

    def texted(self, to: str, from_: str, body: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """What the line answered a webhook the sandbox sent as Twilio."""

    status: int
    body: str


class TwilioAccount:
    """Twilio's REST API for one account, on a real loopback server (start with `running_account`)."""

    def __init__(self, auth_token: str, account_sid: str = ACCOUNT_SID, phone_number: str = LINE_NUMBER):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.phone_number = phone_number
        self.requests: list[ApiRequest] = []
        """The latest `HISTORY` requests, oldest first."""
        self.calls: dict[str, SandboxCall] = {}
        self.recordings: OrderedDict[str, bytes] = OrderedDict()
        self.messages: deque[SandboxMessage] = deque(maxlen=HISTORY)
        self.listener: Listener | None = None
        """Told of every call placed, moved or ended and every text sent; None: nobody rings."""
        self._failures: list[int] = []
        self._stalls: list[float] = []
        self._routes: list[tuple[str, str]] = []
        self._base = ""
        self._session: aiohttp.ClientSession | None = None

    # --- controls (tests, the phones) ------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """Base URL to give the client (TWILIO_API_BASE), e.g. ``http://127.0.0.1:41234``."""
        if not self._base:
            raise SandboxError("the sandbox is not running")
        return self._base

    def started(self, api_base: str, session: aiohttp.ClientSession) -> None:
        """Serving on `api_base`; webhooks go out through `session` (closed by whoever opened it)."""
        self._base = api_base.rstrip("/")
        self._session = session

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` requests, whatever they are, with `status` and Twilio's error body."""
        self._failures.extend([status] * count)

    def stall_next(self, count: int = 1, seconds: float = 5.0) -> None:
        """Hold the next `count` requests `seconds` before answering: a Twilio that has gone slow."""
        self._stalls.extend([seconds] * count)

    def add_recording(self, audio: bytes) -> str:
        """Hold `audio` as a new recording; returns its ``RecordingUrl`` exactly as Twilio posts it."""
        sid = "RE" + secrets.token_hex(16)
        self.recordings[sid] = audio
        while len(self.recordings) > MAX_RECORDINGS:
            self.recordings.popitem(last=False)
        return f"{TWILIO_HOST}{API.format(account_sid=self.account_sid)}/Recordings/{sid}"

    def add_live_call(self, *, from_: str, to: str | None = None, url: str = "") -> str:
        """A caller already connected to the line (inbound, in progress); returns its CallSid."""
        sid = _sid("CA")
        self.calls[sid] = SandboxCall(
            sid=sid,
            to=to or self.phone_number,
            from_=from_,
            direction="inbound",
            status="in-progress",
            url=url,
        )
        return sid

    def deliver_to(self, public_url: str, server_url: str) -> None:
        """Send webhooks for `public_url…` to `server_url…` instead; signatures still cover the public URL."""
        self._routes.append((public_url.rstrip("/"), server_url.rstrip("/")))

    def requests_to(self, suffix: str, method: str = "POST") -> list[ApiRequest]:
        """Requests whose path ends with `suffix` (``"Calls.json"``, ``f"{sid}.json"``)."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # --- Twilio's side of a call ---------------------------------------------------------------

    async def answer(self, call_sid: str) -> CallbackResult:
        """The callee picks up: the call goes in progress and Twilio fetches its TwiML (signed POST)."""
        call = self.calls[call_sid]
        call.status = "in-progress"
        return await self.post_signed(call.url, self.call_params(call))

    async def post_status(self, call_sid: str, status: str, **extra: str) -> CallbackResult:
        """Twilio reports `status` (``ringing``, ``no-answer``…) to the call's status callback.

        Refuses (SandboxError) a report Twilio would not send: one for an event the call
        did not subscribe to, or for a call that was created without a status callback.
        """
        call = self.calls[call_sid]
        if status not in LIVE | ENDED:
            raise SandboxError(f"'{status}' is not a Twilio call status")
        if not call.status_callback:
            raise SandboxError(f"call {call_sid} has no status callback")
        event = _EVENT_OF.get(status, "completed")
        if event not in call.status_callback_events:
            raise SandboxError(
                f"Twilio would not report '{status}': the call asked only for {call.status_callback_events}"
            )
        call.status = status
        call.callbacks_sent += 1
        params = {
            **self.call_params(call),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.callbacks_sent - 1),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
        }
        if status in ENDED:
            params |= {"CallDuration": "0", "Duration": "0"}
        return await self.post_signed(call.status_callback, params | extra)

    def call_params(self, call: SandboxCall) -> dict[str, str]:
        """The fields Twilio posts about `call` with every webhook."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }

    async def post_signed(self, url: str, params: dict[str, str]) -> CallbackResult:
        """POST `params` to `url` with Twilio's signature over the URL and the fields."""
        if self._session is None:
            raise SandboxError("the sandbox is not running")
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        target = url
        for public, server in self._routes:
            if url.startswith(public):
                target = server + url[len(public) :]
                break
        async with self._session.post(
            target, data=params, headers={"X-Twilio-Signature": signature}
        ) as reply:
            return CallbackResult(reply.status, await reply.text())

    # --- the REST API ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gatekeeper])
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_post(base + "/Calls.json", self._create_call)
        app.router.add_post(base + "/Calls/{sid}.json", self._update_call)
        app.router.add_get(base + "/Recordings/{sid}.wav", self._recording)
        app.router.add_post(base + "/Messages.json", self._send_message)
        return app

    @web.middleware
    async def _gatekeeper(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record the request, then play an outage, a bad login or another account's URL as Twilio does."""
        form = await read_form(request) if request.method == "POST" else {}
        authorized = self._authorized(request.headers.get("Authorization", ""))
        self.requests.append(
            ApiRequest(request.method, request.path, tuple((k, str(v)) for k, v in form.items()), authorized)
        )
        del self.requests[:-HISTORY]
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))
        if self._failures:
            status = self._failures.pop(0)
            return _error(status, 20429 if status == 429 else 20500, "Injected failure")
        if not authorized:
            response = _error(401, 20003, "Authenticate")
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if request.match_info.get("account") != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return await handler(request)

    def _authorized(self, header: str) -> bool:
        """HTTP basic auth with this account's SID and auth token, compared in constant time."""
        scheme, _, encoded = header.partition(" ")
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            scheme.lower() == "basic"
            and hmac.compare_digest(login.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        )

    async def _create_call(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        to, from_, url = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Url", ""))
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if from_ != self.phone_number:
            return _error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account.",
            )
        if not url and "Twiml" not in form and "ApplicationSid" not in form:
            return _error(400, 21205, "Url parameter is required")
        events = tuple(str(e) for e in form.getall("StatusCallbackEvent", []))
        if unknown := set(events) - PROGRESS_EVENTS:
            return _error(400, 21626, f"Invalid StatusCallbackEvent {sorted(unknown)}")
        timeout = str(form.get("Timeout", ""))
        call = SandboxCall(
            sid=_sid("CA"),
            to=to,
            from_=from_,
            direction="outbound-api",
            status="queued",
            url=url,
            status_callback=str(form.get("StatusCallback", "")),
            status_callback_events=events or ("completed",),
            timeout=int(timeout) if timeout.isdigit() else None,
            machine_detection=str(form.get("MachineDetection", "")),
        )
        if call.machine_detection not in ("", "Enable", "DetectMessageEnd"):
            return _error(400, 21626, f"Invalid MachineDetection {call.machine_detection}")
        self.calls[call.sid] = call
        if self.listener is not None:
            self.listener.placed(call)
        return web.json_response(self._resource(call), status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        form = await read_form(request)
        if url := str(form.get("Url", "")):
            if call.status not in LIVE:
                return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
            call.url = url
            call.redirects.append(url)
            if self.listener is not None:
                self.listener.redirected(call)
        wanted = str(form.get("Status", ""))
        if wanted not in ("", "completed", "canceled"):
            return _error(400, 21218, f"Invalid Status {wanted}")
        if wanted and call.status in ("queued", "initiated", "ringing"):
            call.status = "canceled"
        elif wanted == "completed" and call.status == "in-progress":
            call.status = "completed"
        else:
            return web.json_response(self._resource(call))
        if self.listener is not None:
            self.listener.hung_up(call, call.status)
        return web.json_response(self._resource(call))

    async def _send_message(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if from_ != self.phone_number:
            return _error(400, 21606, f"The From phone number {from_} is not a valid number for this account")
        if not body:
            return _error(400, 21602, "Message body is required.")
        message = SandboxMessage(_sid("SM"), to, from_, body)
        self.messages.append(message)
        if self.listener is not None:
            self.listener.texted(to, from_, body)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"{API.format(account_sid=self.account_sid)}/Messages/{message.sid}"
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        return web.json_response(resource, status=201)

    async def _recording(self, request: web.Request) -> web.Response:
        audio = self.recordings.get(request.match_info["sid"])
        if audio is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.Response(body=audio, content_type="audio/x-wav")

    def _resource(self, call: SandboxCall) -> dict[str, object]:
        """A call resource shaped like Twilio's (the fields the client parses, with Twilio's types)."""
        uri = f"{API.format(account_sid=self.account_sid)}/Calls/{call.sid}"
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": call.answered_by,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": call.direction,
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": call.from_,
            "from_formatted": call.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": call.sid,
            "start_time": None,
            "status": call.status,
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
                "events": f"{uri}/Events.json",
            },
            "to": call.to,
            "to_formatted": call.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


class SandboxError(RuntimeError):
    """Asked to play something Twilio would not do, or used before it was started."""


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(status: int, code: int, message: str) -> web.Response:
    """Twilio's error body: its own error number, a message, where to read more."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


@asynccontextmanager
async def serving(account: TwilioAccount) -> AsyncIterator[TwilioAccount]:
    """Serve `account` on an ephemeral loopback port; everything opened is closed on the way out."""
    runner = web.AppRunner(account.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:
        account.started(f"http://{host}:{port}", session)
        try:
            yield account
        finally:
            await runner.cleanup()


@asynccontextmanager
async def running_account(
    auth_token: str, account_sid: str = ACCOUNT_SID, phone_number: str = LINE_NUMBER
) -> AsyncIterator[TwilioAccount]:
    """A started account (see `serving`)."""
    async with serving(TwilioAccount(auth_token, account_sid, phone_number)) as account:
        yield account
