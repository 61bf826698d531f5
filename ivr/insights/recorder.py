"""The line's hook: as each call ends, its counts go into the roll-ups (`SupportLine.status`)."""

from __future__ import annotations

from ivr.flow.schema import Flow
from ivr.insights.facts import call_counts
from ivr.insights.store import InsightStore
from ivr.session import CallSession

INBOUND = "inbound"


class InsightRecorder:
    def __init__(self, store: InsightStore, *, language: str) -> None:
        self.store = store
        self.language = language
        """The line's language, for calls whose session does not carry its own."""

    async def call_ended(self, session: CallSession, flow: Flow) -> None:
        queue = await self.store.queue_visit(session.call_sid)
        voicemail = queue is None and await self.store.left_voicemail(session.call_sid)
        counts = call_counts(
            session,
            flow,
            queue=queue,
            after_hours_voicemail=voicemail,
            language=str(session.extra.get("language") or self.language),
            direction=str(session.extra.get("direction") or INBOUND),
        )
        await self.store.add(counts)
