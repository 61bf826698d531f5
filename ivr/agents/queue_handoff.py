"""The queue hand-off: business hours first, then our queue (or voicemail when closed).

`QueueHandOff.prepare` runs once per hand-off: when the line is closed by its hours or a
holiday the caller hears when it opens and the week's hours, when a supervisor closed it
(the emergency switch) only that it is closed; either way they may leave a voicemail.
Otherwise a queue entry is written with exactly the flow's context, the caller is held in
Twilio's `<Enqueue>` with our wait URL, and routing is woken to ring an agent.

Unprepared (the fallback TwiML after a fault of ours) it enqueues without an entry: the
wait URL then finds the call, or adds it, by its CallSid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ivr.agents.caller_words import ENGLISH, CallerWords, words_for
from ivr.agents.desk import AgentDesk
from ivr.agents.queue_twiml import add_record
from ivr.agents.urls import Urls
from ivr.flow.steps import Transfer
from ivr.handoff import HandOff
from ivr.hours import BusinessHours, describe_next_opening, describe_week, is_open
from ivr.session import CallSession
from ivr.step_twiml import Voice
from ivr.twiml_builder import Element


@dataclass(frozen=True, slots=True)
class QueuedHandOff:
    """Hold the caller in Twilio's queue; our wait URL speaks position and plays music."""

    queue: str
    urls: Urls
    entry_id: str = ""
    """Empty when unprepared (the fallback): the wait URL then finds or adds the call itself."""

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        return self

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        response.add(
            "Enqueue",
            self.queue,
            # unprepared, the wait URL takes the call in, in the caller's language
            waitUrl=self.urls.wait(
                self.entry_id, "" if self.entry_id else transfer.context.get("language", "")
            ),
            waitUrlMethod="POST",
            action=self.urls.queue_done(self.entry_id),
            method="POST",
        )


@dataclass(frozen=True, slots=True)
class VoicemailHandOff:
    """The line is closed: say so, and when it opens, and record a message."""

    text: str
    vm_id: str
    urls: Urls
    voice: Voice

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        return self

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        add_record(response, self.text, urls=self.urls, vm_id=self.vm_id, voice=self.voice)


def closed_text(
    hours: BusinessHours | None,
    emergency: bool,
    at: datetime,
    words: CallerWords = ENGLISH,
    locale: str = "en-US",
) -> str | None:
    """What a caller hears when nobody is there, in their language; None while the line is open."""
    if emergency:
        return f"{words.closed_emergency} {words.leave_message}"
    if hours is None or is_open(hours, at):
        return None
    when = describe_next_opening(hours, at, locale) or ""
    week = describe_week(hours, locale)
    return f"{words.closed} {when} {words.hours_are.format(week=week)} {words.leave_message}"


@dataclass(frozen=True, slots=True)
class QueueHandOff:
    desk: AgentDesk
    queue: str
    voice: Voice
    hours: BusinessHours | None = None
    wake: Callable[[], None] = lambda: None
    """Wakes the routing task (it rings an agent outside this webhook)."""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    voices: Mapping[str, Voice] = field(default_factory=dict)
    """Each served language's voice: a closed line tells a caller so in their own."""

    async def prepare(self, session: CallSession, transfer: Transfer) -> HandOff:
        emergency = await self.desk.emergency_closed()
        hours = dataclasses.replace(self.hours, emergency_closed=emergency) if self.hours else None
        language = transfer.context.get("language", "")
        voice = self.voices.get(language, self.voice)
        text = closed_text(hours, emergency, self.now(), words_for(language), voice.language)
        if text is not None:
            vm_id = await self.desk.store.voicemails.start(
                session.call_sid, session.caller, transfer.reason, transfer.context
            )
            return VoicemailHandOff(text, vm_id, self.desk.urls, voice)
        entry = await self.desk.enqueue(session.call_sid, session.caller, transfer.reason, transfer.context)
        self.wake()
        return QueuedHandOff(self.queue, self.desk.urls, entry.id)

    def render(self, response: Element, transfer: Transfer, action_url: str) -> None:
        QueuedHandOff(self.queue, self.desk.urls).render(response, transfer, action_url)
