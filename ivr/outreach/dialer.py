"""The two things campaigns ask of Twilio: place a call that detects answering machines, and
send a text. Through the official `twilio` client, on the line's own transport
(`ivr.telephony.TwilioTelephony`), so failures are the same `TelephonyError`s with codes."""

from __future__ import annotations

from typing import Protocol

from ivr.telephony import STATUS_EVENTS, TelephonyError, TelephonyErrorCode, TwilioTelephony


class Dialer(Protocol):
    async def place_call(self, to: str, url: str, *, status_callback: str, ring_seconds: int = 25) -> str: ...

    async def send_text(self, to: str, body: str) -> str:
        """Send an SMS from the line's number; returns the message SID."""
        ...

    async def aclose(self) -> None: ...


MACHINE_DETECTION = "DetectMessageEnd"
"""Twilio waits for a machine's greeting to end (the beep) before asking the call's URL, so a
message left then is recorded whole; `AnsweredBy` says human or machine."""


class TwilioDialer(TwilioTelephony):
    """`TwilioTelephony` whose calls carry answering machine detection, and which sends texts."""

    async def place_call(self, to: str, url: str, *, status_callback: str, ring_seconds: int = 25) -> str:
        call = await self._rest(
            "placing a campaign call",
            self._client.calls.create_async(
                to=to,
                from_=self._from_number,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_event=list(STATUS_EVENTS),
                status_callback_method="POST",
                timeout=ring_seconds,
                machine_detection=MACHINE_DETECTION,
            ),
        )
        if not call.sid:
            raise TelephonyError(TelephonyErrorCode.REST_FAILED, "placing a call: Twilio gave no CallSid")
        return str(call.sid)

    async def send_text(self, to: str, body: str) -> str:
        message = await self._rest(
            "sending a text",
            self._client.messages.create_async(to=to, from_=self._from_number, body=body),
        )
        return str(message.sid or "")
