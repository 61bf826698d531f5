"""The sandbox account's side of calls the line places itself, and of texts it sends.

Twilio's answering machine detection (`MachineDetection` on a created call) answers the call's
URL with `AnsweredBy` (``human``, ``machine_end_beep``…); `answer_as` plays that. The Messages
endpoint takes texts as Twilio does (basic auth, the account's own number as sender) and keeps
them, so a test can read what a customer's phone received.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import aiohttp
from aiohttp import web

from ivr.sandbox.account import ACCOUNT_SID, API, LINE_NUMBER, CallbackResult, TwilioAccount, _error

ANSWERED_BY = frozenset(
    {"human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
    | {"fax", "unknown"}
)


@dataclass(frozen=True, slots=True)
class SentText:
    sid: str
    to: str
    from_: str
    body: str


class OutboundAccount(TwilioAccount):
    """`TwilioAccount` plus answering machine detection and the Messages endpoint."""

    def __init__(self, auth_token: str, account_sid: str = ACCOUNT_SID, phone_number: str = LINE_NUMBER):
        super().__init__(auth_token, account_sid, phone_number)
        self.texts: list[SentText] = []

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create_message)
        return app

    async def answer_as(self, call_sid: str, answered_by: str) -> CallbackResult:
        """The call is picked up by a person or a machine: Twilio asks the call's URL, saying which."""
        if answered_by not in ANSWERED_BY:
            raise ValueError(f"'{answered_by}' is not a value Twilio sends as AnsweredBy")
        call = self.calls[call_sid]
        call.status = "in-progress"
        return await self.post_signed(call.url, {**self.call_params(call), "AnsweredBy": answered_by})

    async def _create_message(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if from_ != self.phone_number:
            return _error(400, 21606, f"The From phone number {from_} is not a valid message-capable number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        text = SentText("SM" + secrets.token_hex(16), to, from_, body)
        self.texts.append(text)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"{API.format(account_sid=self.account_sid)}/Messages/{text.sid}.json"
        return web.json_response(
            {
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
                "sid": text.sid,
                "status": "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": to,
                "uri": uri,
            },
            status=201,
        )


@asynccontextmanager
async def running_outbound_account(auth_token: str) -> AsyncIterator[OutboundAccount]:
    """An `OutboundAccount` on an ephemeral loopback port (as `running_account`)."""
    account = OutboundAccount(auth_token)
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
