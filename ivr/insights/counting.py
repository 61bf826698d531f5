"""Counting ended calls into the insights' roll-ups, in batches.

A call's record is filed in `insight_calls` by the database itself, in the statement that
records the call's end (a trigger: nothing is added to the webhook's code, and no filing is
lost between two writes). Counting it (reading its record, its queue entry, the flow it ran
on) is batch work for `InsightFolder.fold`, which the server runs every few seconds and
every read of the figures runs first, so figures are never behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import tzinfo

from ivr.flow.schema import Flow
from ivr.insights.facts import Count, call_counts
from ivr.insights.store import FOLD_BATCH, InsightStore, rollup
from ivr.session import CallSession
from ivr.store.base import CallLog
from ivr.store.sql import Conflict

log = logging.getLogger(__name__)

INBOUND = "inbound"
UNARCHIVED_GRACE = 3600.0
"""Seconds a filed call may wait for its record (the Redis outbox archiving it) before it is
dropped from the count with a warning."""

FlowOf = Callable[[CallSession], Awaitable[Flow | None]]
"""The flow a call ran on (its own published version)."""


class InsightFolder:
    def __init__(
        self,
        store: InsightStore,
        calls: CallLog,
        flow_of: FlowOf,
        *,
        language: str,
        zone: tzinfo,
        batch: int = FOLD_BATCH,
    ) -> None:
        self.store = store
        self.calls = calls
        self.flow_of = flow_of
        self.language = language
        """The line's default language, for calls whose session does not carry one (saved before
        the line served several languages, or hung up while choosing)."""
        self.zone = zone
        """The line's time zone: a call counts on the day it started there."""
        self.batch = batch

    async def fold(self, most: int | None = None) -> int:
        """Count the filed calls into the roll-ups (at least `most` of them, if given);
        returns how many were counted.

        Each batch adds its calls' counts and removes them from the filed list in one
        transaction, and expects to remove exactly the calls it read: when another instance
        counted some of them first, the batch changes nothing (`Conflict`) and is read again,
        so no call counts twice."""
        counted = 0
        while True:
            filed = await self.store.filed(self.batch)
            if not filed:
                return counted
            counts: list[Count] = []
            done: list[tuple[str, float]] = []
            for call_sid, ended_at in filed:
                session = await self.calls.get_call(call_sid)
                if session is None:
                    if ended_at > time.time() - UNARCHIVED_GRACE:
                        continue  # its record is still on its way to the database
                    log.warning("insights_no_record: call %s ended but has no record; not counted", call_sid)
                else:
                    await asyncio.sleep(0)  # let webhooks in between: this is batch work
                    counts.extend(await self._counts(session))
                done.append((call_sid, ended_at))
            if not done:
                return counted
            try:
                await self.store.sql.atomic([*self.store.unfile(done), *rollup(counts)])
            except Conflict:
                log.info("insights: another instance counted some of these calls first; reading again")
                continue
            counted += len(done)
            if len(done) < len(filed) or (most is not None and counted >= most):
                return counted

    async def _counts(self, session: CallSession) -> list[Count]:
        flow = await self.flow_of(session)
        if flow is None:
            return []
        handed_over = bool(session.transfer_reason) or session.outcome == "transferred"
        queue = await self.store.queue_visit(session.call_sid) if handed_over else None
        voicemail = handed_over and queue is None and await self.store.left_voicemail(session.call_sid)
        return call_counts(
            session,
            flow,
            queue=queue,
            after_hours_voicemail=voicemail,
            language=session.language or self.language,
            direction=str(session.extra.get("direction") or INBOUND),
            zone=self.zone,
        )
