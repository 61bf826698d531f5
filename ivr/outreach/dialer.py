"""The two things campaigns ask of Twilio: place a call that detects answering machines, and
send a text. Through the official `twilio` client, on the line's own transport
(`ivr.telephony.TwilioTelephony`), so failures are the same `TelephonyError`s with codes."""

from __future__ import annotations

from typing import Protocol

from ivr.telephony import TwilioTelephony


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
    """`TwilioTelephony` whose calls carry answering machine detection."""

    async def place_call(
        self,
        to: str,
        url: str,
        *,
        status_callback: str,
        ring_seconds: int = 25,
        machine_detection: str = MACHINE_DETECTION,
    ) -> str:
        return await super().place_call(
            to,
            url,
            status_callback=status_callback,
            ring_seconds=ring_seconds,
            machine_detection=machine_detection,
        )
