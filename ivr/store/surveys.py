"""Survey answers kept with their call, in the `survey_answers` table the insights read for
satisfaction: the inbound survey's (no campaign) here; campaign calls write theirs with the
campaign's own records (`ivr.outreach.store`). Each answer is an event for the company too
(`survey.answered`), written in the same transaction."""

from __future__ import annotations

import time
from collections.abc import Callable

from ivr.events import EventType
from ivr.store.event_outbox import event
from ivr.store.sql import Sql, Statement


class SqlSurveyRecorder:
    """`ivr.flow.survey.SurveyRecorder` over `Sql`; one answer per call (a repeated turn rewrites it)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def record(self, call_sid: str, score: int) -> None:
        now = self.clock()
        await self.sql.atomic(
            [
                Statement(
                    "INSERT INTO survey_answers (call_sid, campaign, score, answered_at)"
                    " VALUES ($1, NULL, $2, $3) ON CONFLICT (call_sid)"
                    " DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at",
                    (call_sid, score, now),
                ),
                event(
                    EventType.SURVEY_ANSWERED,
                    call_sid,
                    {"call_sid": call_sid, "score": score, "campaign": None, "number": None},
                    now,
                ),
            ]
        )
