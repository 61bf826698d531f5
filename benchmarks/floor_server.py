"""The floor: the least a signed Twilio webhook server can do, to measure `ivr serve` against.

A bare aiohttp handler that reads the form, checks `X-Twilio-Signature` with twilio's own
`RequestValidator` (as any Twilio sample does) and answers one constant TwiML document. No
call state, no flow, no database: whatever `ivr serve` does beyond this is its own cost.

    python benchmarks/floor_server.py --port 8081 --public-url http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web
from twilio.request_validator import RequestValidator

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/turn?seq=1" '
    'input="dtmf" numDigits="1"><Say>Thank you for calling.</Say></Gather></Response>'
)


def floor_app(auth_token: str, public_url: str) -> web.Application:
    """Every POST: check the signature against `public_url` + path, answer `ANSWER`."""
    validator = RequestValidator(auth_token)

    async def webhook(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(public_url + request.path_qs, params, signature):
            raise web.HTTPForbidden()
        return web.Response(text=ANSWER, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/{path:.*}", webhook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", required=True)
    args = parser.parse_args()
    app = floor_app(os.environ["TWILIO_AUTH_TOKEN"], args.public_url)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
