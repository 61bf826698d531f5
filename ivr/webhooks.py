"""Every Twilio webhook must carry a valid `X-Twilio-Signature`.

Checked with the official `twilio` library's `RequestValidator` against the URL Twilio
used (PUBLIC_URL + path and query), so a proxy or tunnel in front does not break it.
There is deliberately no setting that turns this off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIGNED_PREFIX = "/voice"


async def form_params(request: web.Request) -> dict[str, str]:
    """Twilio's form fields; a body that is not a readable form is a 400, not a 500."""
    try:
        form = await request.post()
    except (ValueError, LookupError) as exc:  # bad charset, malformed multipart or encoding
        raise web.HTTPBadRequest(text=f"Unreadable form body: {exc}\n") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def signature_middleware(auth_token: str, public_url: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    validator = RequestValidator(auth_token)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(SIGNED_PREFIX):
            return await handler(request)
        signature = request.headers.get("X-Twilio-Signature", "")
        params = await form_params(request)
        url = public_url + request.path_qs
        if not signature or not validator.validate(url, params, signature):
            log.warning(
                "signature_invalid: %s %s (signature %s)",
                request.method,
                request.path,
                "missing" if not signature else "does not match",
            )
            raise web.HTTPForbidden(text="Invalid or missing X-Twilio-Signature.\n")
        return await handler(request)

    return check
