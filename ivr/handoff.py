"""How a caller reaches a person: the single seam for agent hand-off.

Flows only say *that* and *why* a caller is handed over (a `Transfer` step); a
`HandOff` decides *how*: a direct `<Dial>` or a plain Twilio `<Enqueue>` (here), or the
agent desk's warm transfer with the call's context whispered to the agent
(`ivr.agents.queue_handoff.QueueHandOff`), chosen when the app is set up, without touching flows
or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ivr.flow.opening import Opening
from ivr.flow.steps import Transfer
from ivr.session import CallSession
from ivr.twiml_builder import Element


class HandOff(Protocol):
    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        """Decide, for this call, how it is handed over (may read or write the database):
        the returned hand-off renders it. Called once per hand-off, before `render`."""
        ...

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        """Append the TwiML that connects the caller; Twilio posts `action_url` when it ends.

        Pure. Also used unprepared when the service itself has failed (the fallback)."""
        ...


@dataclass(frozen=True, slots=True)
class DialHandOff:
    """Ring one number (a desk phone, a call-centre hunt group)."""

    number: str
    timeout: int = 25
    caller_id: str = ""

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        return self

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        dial = response.add(
            "Dial", action=action_url, method="POST", timeout=self.timeout, callerId=self.caller_id or None
        )
        if self.number.startswith("sip:"):
            dial.add("Sip", self.number)
        elif self.number.startswith("client:"):
            dial.add("Client", self.number.removeprefix("client:"))
        else:
            dial.add("Number", self.number)


@dataclass(frozen=True, slots=True)
class EnqueueHandOff:
    """Put the caller in a Twilio queue that agents dequeue from.

    `wait_url` (our `/voice/queue-wait`) tells the caller their place and the wait from
    Twilio's own queue figures and plays the hold music; it needs no REST credentials.
    """

    queue: str = "support"
    wait_url: str = ""

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        return self

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        language = transfer.context.get("language", "")  # the wait URL speaks it
        wait_url = f"{self.wait_url}?language={language}" if self.wait_url and language else self.wait_url
        response.add(
            "Enqueue",
            self.queue,
            action=action_url,
            method="POST",
            waitUrl=wait_url or None,
            waitUrlMethod="POST" if wait_url else None,
        )


@dataclass(frozen=True, slots=True)
class NobodyThere:
    """The line is closed: report the hand-off as failed at once, so the flow's fallback
    (the hours, a callback request) speaks, instead of a queue or a phone nobody answers."""

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        return self

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        response.add("Redirect", action_url, method="POST")


@dataclass(frozen=True, slots=True)
class WithinHours:
    """Hand over only while the line is open (its schedule and the emergency switch); the
    plain `<Dial>` and `<Enqueue>` set-ups have no desk to take a voicemail, so a closed
    line goes to the flow's fallback. Unprepared (after a fault of ours) it hands over anyway:
    a person, if one is there, is the best answer to an error."""

    inner: HandOff
    opening: Opening

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        if (await self.opening.now()).open:
            return await self.inner.prepare(session, transfer)
        return NobodyThere()

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        self.inner.render(response, transfer, action_url)


CONNECTED_DIAL = frozenset({"completed", "answered"})
"""`DialCallStatus` values meaning a person took the call (it has ended since)."""
CONNECTED_QUEUE = frozenset({"bridged", "hangup"})
"""`QueueResult` values meaning the caller was connected, or left the queue by hanging up."""


def transfer_connected(params: dict[str, str]) -> bool:
    """Read Twilio's report on a finished `<Dial>` or `<Enqueue>`."""
    if "DialCallStatus" in params:
        return params["DialCallStatus"] in CONNECTED_DIAL
    return params.get("QueueResult", "") in CONNECTED_QUEUE
