"""The line acting on calls itself, through Twilio's REST API.

Webhooks let Twilio ask the line what to do next; agents need the other direction: the
line places calls (an agent's whisper, a customer's callback), moves a live call onto new
TwiML (out of a queue into a conference), hangs up, downloads voicemail recordings, and
texts a caller a link they asked for (Twilio's Messaging API).
`Telephony` is that narrow seam; `TwilioTelephony` is the one real implementation, built on
the official `twilio` client's asyncio support so no request blocks the event loop.

Every failure is a `TelephonyError` with a stable code and the HTTP status, so callers can
decide whether to retry (`retryable`) without knowing anything about Twilio's exceptions.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.config import ConfigError, Settings
from ivr.events import EventType
from ivr.logs import mask_phones
from ivr.store.event_outbox import record_event
from ivr.store.sql import Sql

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
"""Every call-progress event Twilio can report, so the line sees a placed call ring and end."""

_T = TypeVar("_T")
_RECORDINGS = "/2010-04-01/Accounts/{account_sid}/Recordings/"
# Given an empty mapping the client reads TWILIO_EDGE / TWILIO_REGION from os.environ and
# rewrites the host from them; these blanks keep TWILIO_API_BASE the only thing that picks it.
_NO_EDGE = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}


class TelephonyErrorCode(StrEnum):
    """Stable codes for logs, metrics and the agent console; never reword them."""

    AUTH_FAILED = "twilio_auth_failed"
    """Twilio refused the account SID / auth token (401/403): a configuration fault, not worth a retry."""
    REST_FAILED = "twilio_rest_failed"
    """Twilio answered a call request with an error (bad number, call already ended, 429, 5xx…)."""
    UNREACHABLE = "twilio_unreachable"
    """Twilio's API did not answer: connection refused or reset, DNS, or the request timed out."""
    RECORDING_FETCH_FAILED = "recording_fetch_failed"
    """A recording could not be downloaded (not found, not ours, network error)."""


class TelephonyError(Exception):
    """A call action or download failed; `code` is a stable :class:`TelephonyErrorCode` value."""

    def __init__(
        self,
        code: TelephonyErrorCode,
        detail: str,
        *,
        status: int | None = None,
        twilio_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        """Stable machine-readable reason, e.g. ``"twilio_rest_failed"``."""
        self.detail = detail
        """Human-readable explanation (phone numbers masked); may change between versions."""
        self.status = status
        """HTTP status Twilio answered with; None when it did not answer at all."""
        self.twilio_code = twilio_code
        """Twilio's own error number (e.g. 21220 "call not in progress"), when it gave one."""
        self.retryable = (
            (status is None or status == 429 or status >= 500) if retryable is None else retryable
        )
        """True for faults that may pass (no answer, 429, 5xx); False for refusals that will repeat."""


class Telephony(Protocol):
    """What the line asks of the phone network, beyond answering webhooks."""

    async def place_call(self, to: str, url: str, *, status_callback: str, ring_seconds: int = 25) -> str:
        """Dial `to` from the line's number; `url` gives the TwiML once answered. Returns the CallSid.

        `status_callback` receives initiated, ringing, answered and completed (POST, signed).
        `ring_seconds` is how long it may ring before Twilio gives up and reports no-answer.
        """
        ...

    async def redirect_call(self, call_sid: str, url: str) -> None:
        """Make a live call fetch new TwiML from `url` (POST) and follow it at once."""
        ...

    async def hang_up(self, call_sid: str) -> None:
        """End a call, ringing or answered."""
        ...

    async def fetch_recording(self, recording_url: str) -> bytes:
        """The WAV audio of a recording, given the `RecordingUrl` Twilio posted."""
        ...

    async def send_text(self, to: str, body: str) -> str:
        """Send a text message (SMS) from the line's number; returns its MessageSid."""
        ...

    async def aclose(self) -> None:
        """Release connections; the object is unusable afterwards."""
        ...


class TwilioTexts:
    """Texts to callers (the flow's `TextMessages`) through the line's own Twilio client, opened
    with the app (`open` inside the running event loop) and closed with it. Each text sent is
    told to the company (`text.sent`, into `events`' outbox)."""

    def __init__(
        self, settings: Settings, api_base: Callable[[], str] | None = None, *, events: Sql | None = None
    ) -> None:
        self._settings = settings
        self._events = events
        self._api_base = api_base
        """Where the sandbox's account listens, known only once it runs; None: TWILIO_API_BASE."""
        self._telephony: TwilioTelephony | None = None

    def open(self) -> None:
        if self._api_base is None:
            self._telephony = TwilioTelephony.from_settings(self._settings)
        else:
            self._telephony = TwilioTelephony(
                account_sid=self._settings.account_sid,
                auth_token=self._settings.auth_token,
                from_number=self._settings.phone_number,
                api_base=self._api_base(),
            )

    async def aclose(self) -> None:
        if self._telephony is not None:
            await self._telephony.aclose()
            self._telephony = None

    async def send(self, to: str, body: str) -> str:
        if self._telephony is None:
            raise TelephonyError(TelephonyErrorCode.UNREACHABLE, "sending a text: the line is not running")
        sid = await self._telephony.send_text(to, body)
        if self._events is not None:
            await text_sent(self._events, sid, to, body, campaign=None)
        return sid


async def text_sent(events: Sql, sid: str, to: str, body: str, *, campaign: str | None) -> None:
    """Record the `text.sent` event of a text that went; a database that fails loses the event,
    never the text (it is sent, and the caller hears so)."""
    try:
        await record_event(
            events,
            EventType.TEXT_SENT,
            sid,
            {"message_sid": sid, "number": to, "body": body, "campaign": campaign},
            time.time(),
        )
    except Exception as exc:  # any driver error: logged with its cause, the text stands
        log.error("text_event_not_recorded: %s: %s", type(exc).__name__, exc)


class TwilioTelephony:
    """`Telephony` through Twilio's REST API with the official client.

    Create it inside the running event loop (it opens an aiohttp session) and `aclose` it when
    the server stops. Nothing is retried here: creating a call is not idempotent, and whether
    a redirect is still worth making a second later is the caller's decision (`retryable`).
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str = TWILIO_API,
        request_timeout: float = 10.0,
    ) -> None:
        self._account_sid = account_sid
        self._credentials = (account_sid, auth_token)
        self._from_number = from_number
        self._api_base = api_base.rstrip("/")
        self._http = AiohttpTwilioClient(request_timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http, environment=_NO_EDGE)
        # The one place the API host is chosen: every REST request the client builds starts here.
        self._client.api.base_url = self._api_base

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Built from TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER and TWILIO_API_BASE."""
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.account_sid),
                ("TWILIO_PHONE_NUMBER", settings.phone_number),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} must be set for the line to place or move calls")
        return cls(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token,
            from_number=settings.phone_number,
            api_base=settings.api_base,
        )

    async def place_call(
        self, to: str, url: str, *, status_callback: str, ring_seconds: int = 25, machine_detection: str = ""
    ) -> str:
        """`machine_detection` (e.g. ``DetectMessageEnd``) asks Twilio to tell humans from
        answering machines (`AnsweredBy`); empty: not asked."""
        extra = {"machine_detection": machine_detection} if machine_detection else {}
        call = await self._rest(
            "placing a call",
            self._client.calls.create_async(
                to=to,
                from_=self._from_number,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_event=list(STATUS_EVENTS),
                status_callback_method="POST",
                timeout=ring_seconds,
                **extra,
            ),
        )
        if not call.sid:
            raise TelephonyError(TelephonyErrorCode.REST_FAILED, "placing a call: Twilio gave no CallSid")
        return call.sid

    async def send_text(self, to: str, body: str) -> str:
        message = await self._rest(
            "sending a text", self._client.messages.create_async(to=to, from_=self._from_number, body=body)
        )
        if not message.sid:
            raise TelephonyError(TelephonyErrorCode.REST_FAILED, "sending a text: Twilio gave no MessageSid")
        return str(message.sid)

    async def redirect_call(self, call_sid: str, url: str) -> None:
        await self._rest(
            f"redirecting call {call_sid}", self._client.calls(call_sid).update_async(url=url, method="POST")
        )

    async def hang_up(self, call_sid: str) -> None:
        await self._rest(
            f"hanging up call {call_sid}", self._client.calls(call_sid).update_async(status="completed")
        )

    async def fetch_recording(self, recording_url: str) -> bytes:
        url = self._recording_wav_url(recording_url)
        doing = f"fetching {urlsplit(url).path}"
        try:
            status, audio = await self._http.download(url, self._credentials)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TelephonyError(
                TelephonyErrorCode.RECORDING_FETCH_FAILED, f"{doing}: {type(exc).__name__} {exc}".rstrip()
            ) from exc
        if status in (401, 403):
            raise TelephonyError(
                TelephonyErrorCode.AUTH_FAILED, f"{doing}: Twilio refused the credentials", status=status
            )
        if status != 200:
            raise TelephonyError(
                TelephonyErrorCode.RECORDING_FETCH_FAILED, f"{doing}: HTTP {status}", status=status
            )
        return audio

    async def aclose(self) -> None:
        await self._http.close()

    def _recording_wav_url(self, recording_url: str) -> str:
        """`<RecordingUrl>.wav` on the configured API host, for this account's recordings only.

        The download carries the account's credentials, so a URL that is not one of this
        account's recordings on Twilio's API (or the configured base) is refused, not fetched.
        """
        parts = urlsplit(recording_url)
        prefix = _RECORDINGS.format(account_sid=self._account_sid)
        hosts = {urlsplit(TWILIO_API).netloc, urlsplit(self._api_base).netloc}
        name = parts.path.removeprefix(prefix)
        if parts.netloc not in hosts or not parts.path.startswith(prefix) or not name or "/" in name:
            raise TelephonyError(
                TelephonyErrorCode.RECORDING_FETCH_FAILED,
                f"'{recording_url}' is not a recording of this account on Twilio's API",
                retryable=False,
            )
        return f"{self._api_base}{prefix}{name.removesuffix('.wav')}.wav"

    async def _rest(self, doing: str, request: Awaitable[_T]) -> _T:
        """Await one REST request, turning every failure into a TelephonyError."""
        try:
            return await request
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _refused(doing, exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TelephonyError(
                TelephonyErrorCode.UNREACHABLE, f"{doing}: {type(exc).__name__} {exc}".rstrip()
            ) from exc


class AiohttpTwilioClient(AsyncHttpClient):
    """The transport under the `twilio` client: one aiohttp session for REST calls and downloads.

    The client's own `AsyncTwilioHttpClient` sends credentials with `aiohttp.BasicAuth`
    (deprecated since aiohttp 3.14, a warning on every request), sets no time limit, and logs
    every request at INFO; this one sends the header itself, bounds each request, and logs
    nothing (the error it leads to is logged by whoever handles it).
    """

    def __init__(self, request_timeout: float) -> None:
        super().__init__(logging.getLogger(__name__), is_async=True, timeout=request_timeout)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the twilio client's signature)
        allow_redirects: bool = False,
    ) -> Response:
        async with self._session.request(
            method,
            url,
            params=_form(params),
            data=_form(data),
            headers=_with_auth(headers, auth),
            allow_redirects=allow_redirects,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
        ) as response:
            return Response(response.status, await response.text(), response.headers)

    async def download(self, url: str, auth: tuple[str, str]) -> tuple[int, bytes]:
        """GET `url` with the account's credentials: the status and the body as bytes."""
        async with self._session.get(url, headers=_with_auth(None, auth)) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        await self._session.close()


def _form(fields: dict[str, object] | None) -> list[tuple[str, str]] | None:
    """Fields as pairs; a list (``StatusCallbackEvent``) becomes one pair per item, as Twilio expects."""
    if fields is None:
        return None
    return [
        (name, str(item))
        for name, value in fields.items()
        for item in (value if isinstance(value, list) else [value])
    ]


def _with_auth(headers: dict[str, str] | None, auth: tuple[str, str] | None) -> dict[str, str]:
    """HTTP basic auth (RFC 7617) as Twilio takes it: the account SID and the auth token."""
    headers = dict(headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return headers


def _refused(doing: str, exc: TwilioRestException | TwilioServiceException) -> TelephonyError:
    message = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    code = TelephonyErrorCode.AUTH_FAILED if exc.status in (401, 403) else TelephonyErrorCode.REST_FAILED
    return TelephonyError(
        code,
        mask_phones(f"{doing}: HTTP {exc.status} {message}"),
        status=exc.status,
        twilio_code=exc.code,
    )
