"""What every Twilio webhook shares: a valid `X-Twilio-Signature`, and an answer whatever fails.

A voice webhook that raises would make Twilio play its "application error" message and
hang up on the caller. `twiml_webhook` wraps a handler so that any failure is logged with
its cause (`webhook_failed`) and answered with the handler's fallback TwiML instead (an
apology and a way on: a hand-off, leaving the queue, a goodbye). Status callbacks have no
caller listening: `status_webhook` answers 204, or 500 after logging (`status_failed`).

Every webhook must carry a valid `X-Twilio-Signature`.

Checked against the URL Twilio used (PUBLIC_URL + path and query), so a proxy or tunnel in
front does not break it. There is deliberately no setting that turns this off.

The check is Twilio's documented algorithm, written with the standard library's HMAC:
base64(HMAC-SHA1(auth token, URL + each form field's name and value, sorted by name)),
compared in constant time (`hmac.compare_digest`). It accepts exactly what twilio's
`RequestValidator.validate` accepts (tests/test_signature.py compares the two), but that
validator re-parses the URL and computes two signatures for every request (the URL with and
without its port), and compares them in pure Python: about a tenth of a turn's time. Here
the two forms of PUBLIC_URL are worked out once, with twilio's own helpers, and the second
signature is computed only when the first does not match.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlparse

from aiohttp import web
from twilio.request_validator import add_port, remove_port

from ivr.bodies import read_form
from ivr.logs import call_context

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIGNED_PREFIX = "/voice"
MAX_FORM_BYTES = 64 * 1024
"""The largest webhook body read. Twilio's are a few kilobytes (a long `SpeechResult` is a
few hundred characters); reading and checking 1 MB of form on the event loop is not free."""


FORM = web.RequestKey("form", dict[str, str])
"""A signed request's form fields, read once by the signature check for the handler."""


async def form_params(request: web.Request) -> dict[str, str]:
    """Twilio's form fields; a body that is not a readable form is a 400, not a 500, and one
    over `MAX_FORM_BYTES` (or of no stated length) a 413, before any of it is read."""
    if FORM in request:
        return request[FORM]
    too_long = request.content_length is None or request.content_length > MAX_FORM_BYTES
    if request.body_exists and too_long:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length or 0)
    form = await read_form(request)
    params = request[FORM] = {k: v for k, v in form.items() if isinstance(v, str)}
    return params


def signed_form(request: web.Request) -> Mapping[str, str]:
    """The form fields a webhook's handler got (empty before they were read): what a fallback
    may use to say its apology in the caller's language."""
    return request.get(FORM, {})


class SignatureCheck:
    """Checks `X-Twilio-Signature` for requests to one public URL."""

    def __init__(self, auth_token: str, public_url: str) -> None:
        self._key = auth_token.encode()
        parsed = urlparse(public_url)
        # Twilio signs some URLs with the port and some without: accept both, as its validator
        # does; the one spelled as configured is tried first.
        bases = {remove_port(parsed), add_port(parsed)}
        self._bases = sorted(bases, key=lambda base: base != public_url)

    def signature(self, base: str, path_qs: str, params: Mapping[str, str]) -> bytes:
        """What Twilio sends for a request to `base` + `path_qs` with these form fields."""
        signed = base + path_qs + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.digest(self._key, signed.encode(), "sha1"))

    def valid(self, path_qs: str, params: Mapping[str, str], signature: str) -> bool:
        """Whether `signature` signs a request to PUBLIC_URL + `path_qs` with these fields."""
        given = signature.encode()
        return any(hmac.compare_digest(self.signature(base, path_qs, params), given) for base in self._bases)


def signature_middleware(auth_token: str, public_url: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    check_signature = SignatureCheck(auth_token, public_url)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(SIGNED_PREFIX):
            return await handler(request)
        signature = request.headers.get("X-Twilio-Signature", "")
        params = await form_params(request)
        if not signature or not check_signature.valid(request.path_qs, params, signature):
            log.warning(
                "signature_invalid: %s %s (signature %s)",
                request.method,
                request.path,
                "missing" if not signature else "does not match",
            )
            raise web.HTTPForbidden(text="Invalid or missing X-Twilio-Signature.\n")
        return await handler(request)

    return check


# --- answering: the caller never meets an error page ----------------------------------------------

TWIML = "text/xml"

Endpoint = Callable[[web.Request], Awaitable[web.Response]]
TwimlHandler = Callable[[web.Request, dict[str, str]], Awaitable[str]]
"""Answers TwiML for a request and its form fields."""
StatusHandler = Callable[[web.Request, dict[str, str]], Awaitable[None]]
Timer = Callable[[web.Request], contextlib.AbstractContextManager[object]]
"""Times one request (for `/metrics`)."""


def twiml_response(text: str) -> web.Response:
    return web.Response(text=text, content_type=TWIML)


def twiml_webhook(
    handler: TwimlHandler, fallback: Callable[[web.Request], str], *, timed: Timer | None = None
) -> Endpoint:
    """`handler`'s TwiML, or `fallback(request)`'s if it raises (an HTTP error it raises on
    purpose, such as a 400 for a request Twilio would never send, goes out as it is)."""

    async def endpoint(request: web.Request) -> web.Response:
        with timed(request) if timed else contextlib.nullcontext():
            params = await form_params(request)
            with call_context(params.get("CallSid")):
                try:
                    return twiml_response(await handler(request, params))
                except web.HTTPException:
                    raise
                except Exception:
                    log.exception("webhook_failed: %s for call %s", request.path, params.get("CallSid", "?"))
                    return twiml_response(fallback(request))

    return endpoint


def status_webhook(handler: StatusHandler, *, timed: Timer | None = None) -> Endpoint:
    """204 once `handler` has filed the status; 500 if it raised (Twilio retries nothing here,
    and the caller is gone; the record keeps its last state)."""

    async def endpoint(request: web.Request) -> web.Response:
        with timed(request) if timed else contextlib.nullcontext():
            params = await form_params(request)
            with call_context(params.get("CallSid")):
                try:
                    await handler(request, params)
                except Exception:
                    log.exception("status_failed: %s for call %s", request.path, params.get("CallSid", "?"))
                    raise web.HTTPInternalServerError() from None
            return web.Response(status=204)

    return endpoint
