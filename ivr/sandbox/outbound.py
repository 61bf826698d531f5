"""The sandbox account's side of calls the line places with answering machine detection.

Twilio's answering machine detection (`MachineDetection` on a created call) answers the call's
URL with `AnsweredBy` (``human``, ``machine_end_beep``…); `answer_as` plays that. Texts the line
sends are the account's own `messages` (its Messages endpoint); `texts` reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ivr.sandbox.account import (
    ACCOUNT_SID,
    LINE_NUMBER,
    CallbackResult,
    SandboxMessage,
    TwilioAccount,
    serving,
)

ANSWERED_BY = frozenset(
    {"human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
    | {"fax", "unknown"}
)


class OutboundAccount(TwilioAccount):
    """`TwilioAccount` that also plays answering machine detection."""

    def __init__(self, auth_token: str, account_sid: str = ACCOUNT_SID, phone_number: str = LINE_NUMBER):
        super().__init__(auth_token, account_sid, phone_number)

    @property
    def texts(self) -> list[SandboxMessage]:
        """Every text the line sent, oldest first."""
        return list(self.messages)

    async def answer_as(self, call_sid: str, answered_by: str) -> CallbackResult:
        """The call is picked up by a person or a machine: Twilio asks the call's URL, saying which."""
        if answered_by not in ANSWERED_BY:
            raise ValueError(f"'{answered_by}' is not a value Twilio sends as AnsweredBy")
        call = self.calls[call_sid]
        call.status = "in-progress"
        return await self.post_signed(call.url, {**self.call_params(call), "AnsweredBy": answered_by})


@asynccontextmanager
async def running_outbound_account(auth_token: str) -> AsyncIterator[OutboundAccount]:
    """An `OutboundAccount` on an ephemeral loopback port (as `running_account`)."""
    async with serving(OutboundAccount(auth_token)) as account:
        assert isinstance(account, OutboundAccount)
        yield account
