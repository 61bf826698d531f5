"""Survey answers kept with their call, in the `survey_answers` table the insights read for
satisfaction: the inbound survey's (no campaign) here; campaign calls write theirs with the
campaign's own records (`ivr.outreach.store`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ivr.store.sql import Sql


class SqlSurveyRecorder:
    """`ivr.flow.survey.SurveyRecorder` over `Sql`; one answer per call (a repeated turn rewrites it)."""

    def __init__(self, sql: Sql, *, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def record(self, call_sid: str, score: int) -> None:
        await self.sql.execute(
            "INSERT INTO survey_answers (call_sid, campaign, score, answered_at) VALUES ($1, NULL, $2, $3)"
            " ON CONFLICT (call_sid)"
            " DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at",
            call_sid,
            score,
            self.clock(),
        )
