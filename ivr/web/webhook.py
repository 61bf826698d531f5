"""What every Twilio webhook handler shares: read the form, tag the logs, never fail the caller.

A voice webhook that raises would make Twilio play its "application error" message and
hang up on the caller. `twiml_webhook` wraps a handler so that any failure is logged with
its cause (`webhook_failed`) and answered with the handler's fallback TwiML instead (an
apology and a way on: a hand-off, leaving the queue, a goodbye). Status callbacks have no
caller listening: `status_webhook` answers 204, or 500 after logging (`status_failed`).
Both time the request for `/metrics` when given a name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ivr.logs import call_context
from ivr.metrics import Metrics
from ivr.web.signature import form_params

log = logging.getLogger(__name__)

METRICS = web.AppKey("metrics", Metrics)
TWIML = "text/xml"

Endpoint = Callable[[web.Request], Awaitable[web.Response]]
TwimlHandler = Callable[[web.Request, dict[str, str]], Awaitable[str]]
"""Answers TwiML for a request and its form fields."""
StatusHandler = Callable[[web.Request, dict[str, str]], Awaitable[None]]


def twiml_response(text: str) -> web.Response:
    return web.Response(text=text, content_type=TWIML)


def _timed(request: web.Request, name: str) -> contextlib.AbstractContextManager[object]:
    metrics = request.app.get(METRICS)
    return metrics.timed(name) if name and metrics is not None else contextlib.nullcontext()


def twiml_webhook(
    handler: TwimlHandler, fallback: Callable[[web.Request], str], *, timed: str = ""
) -> Endpoint:
    """`handler`'s TwiML, or `fallback(request)`'s if it raises (an HTTP error it raises on
    purpose, such as a 400 for a request Twilio would never send, goes out as it is)."""

    async def endpoint(request: web.Request) -> web.Response:
        with _timed(request, timed):
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


def status_webhook(handler: StatusHandler, *, timed: str = "") -> Endpoint:
    """204 once `handler` has filed the status; 500 if it raised (Twilio retries nothing here,
    and the caller is gone; the record keeps its last state)."""

    async def endpoint(request: web.Request) -> web.Response:
        with _timed(request, timed):
            params = await form_params(request)
            with call_context(params.get("CallSid")):
                try:
                    await handler(request, params)
                except Exception:
                    log.exception("status_failed: %s for call %s", request.path, params.get("CallSid", "?"))
                    raise web.HTTPInternalServerError() from None
            return web.Response(status=204)

    return endpoint
