"""The insights' SQL, one text for SQLite and PostgreSQL (through `ivr.store.sql.Sql`).

Writes add finished calls' counts to the roll-ups in one transaction; reads sum
the roll-ups of a period (and filters) in the database. Satisfaction comes from the
`survey_answers` table (call, campaign, score 1-5, time), behind `SurveyAnswers`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.insights.facts import Count, Metric, QueueVisit
from ivr.store.sql import Row, Sql, Statement

FOLD_BATCH = 500
"""Calls counted per transaction: a few hundred distinct roll-up rows, a short write lock."""

ADD = (
    "INSERT INTO insight_counts (day, flow, version, language, direction, metric, key, count, total)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (day, flow, version, language, direction, metric, key) DO UPDATE"
    " SET count = insight_counts.count + excluded.count, total = insight_counts.total + excluded.total"
)
ADD_VOLUME = (
    "INSERT INTO insight_volume (hour, flow, version, language, direction, calls, seconds)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (hour, flow, version, language, direction) DO UPDATE"
    " SET calls = insight_volume.calls + excluded.calls, seconds = insight_volume.seconds + excluded.seconds"
)
Slots = dict[tuple[Any, ...], list[float]]


def merge(counts: Iterable[Count]) -> tuple[Slots, Slots]:
    """Counts summed into the two roll-ups' rows: (day, ..., metric, key) and (hour, ...) for calls."""
    days: Slots = defaultdict(lambda: [0, 0.0])
    hours: Slots = defaultdict(lambda: [0, 0.0])
    for c in counts:
        slot = days[(c.hour // 24, c.flow, c.version, c.language, c.direction, c.metric.value, c.key)]
        slot[0] += c.count
        slot[1] += c.total
        if c.metric is Metric.CALLS:
            slot = hours[(c.hour, c.flow, c.version, c.language, c.direction)]
            slot[0] += c.count
            slot[1] += c.total
    return days, hours


def rollup(counts: Iterable[Count]) -> list[Statement]:
    """The statements that add these counts to the roll-ups."""
    days, hours = merge(counts)
    return [
        *(Statement(ADD, (*key, int(n), float(t))) for key, (n, t) in days.items()),
        *(Statement(ADD_VOLUME, (*key, int(n), float(t))) for key, (n, t) in hours.items()),
    ]


@dataclass(frozen=True, slots=True)
class Filter:
    """Which calls a figure counts: started in [since, until) hours (whole UTC days for the
    daily roll-up), optionally one flow version and one language."""

    flow: str
    since_hour: int
    until_hour: int
    version: int | None = None
    language: str | None = None

    def where(self, *, daily: bool) -> tuple[str, list[Any]]:
        if daily:
            clauses = ["flow = $1", "day >= $2", "day < $3"]
            args: list[Any] = [self.flow, self.since_hour // 24, -(-self.until_hour // 24)]
        else:
            clauses = ["flow = $1", "hour >= $2", "hour < $3"]
            args = [self.flow, self.since_hour, self.until_hour]
        if self.version is not None:
            args.append(self.version)
            clauses.append(f"version = ${len(args)}")
        if self.language:
            args.append(self.language)
            clauses.append(f"language = ${len(args)}")
        return " AND ".join(clauses), args


class SurveyAnswers(Protocol):
    """Satisfaction scores where surveys ran (the outbound campaigns write them)."""

    async def scores(self, since: float, until: float) -> list[Row]:
        """Rows of (day, score, answers) in the period, day as seconds // 86400."""
        ...


class InsightStore:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def filed(self, limit: int) -> list[tuple[str, float]]:
        """The calls filed and not counted yet, oldest first."""
        rows = await self.sql.fetch(
            "SELECT call_sid, ended_at FROM insight_calls ORDER BY ended_at, call_sid LIMIT $1", limit
        )
        return [(str(r["call_sid"]), float(r["ended_at"])) for r in rows]

    async def pending(self) -> int:
        """Calls filed and not counted yet."""
        row = await self.sql.fetchone("SELECT CAST(count(*) AS bigint) AS n FROM insight_calls")
        return int(row["n"]) if row else 0

    @staticmethod
    def unfile(call_sids: Sequence[str]) -> Statement:
        """Take counted calls off the list; the batch fails if any was taken off by another."""
        places = ", ".join(f"${i}" for i in range(1, len(call_sids) + 1))
        return Statement(
            f"DELETE FROM insight_calls WHERE call_sid IN ({places})", tuple(call_sids), len(call_sids)
        )

    async def add(self, counts: Sequence[Count]) -> None:
        """Add counts to the roll-ups directly, in one transaction (tests, benchmarks, rebuilds)."""
        await self.sql.atomic(rollup(counts))

    async def queue_visit(self, call_sid: str) -> QueueVisit | None:
        row = await self.sql.fetchone(
            "SELECT state, enqueued_at, bridged_at, ended_at FROM queue_entries WHERE call_sid = $1", call_sid
        )
        if row is None:
            return None
        return QueueVisit(row["state"], row["enqueued_at"], row["bridged_at"], row["ended_at"])

    async def left_voicemail(self, call_sid: str) -> bool:
        return (
            await self.sql.fetchone("SELECT 1 AS one FROM voicemails WHERE call_sid = $1", call_sid)
            is not None
        )

    async def totals(self, where: Filter) -> list[Row]:
        """(metric, key, count, total) summed over the filter."""
        clause, args = where.where(daily=True)
        return await self.sql.fetch(
            "SELECT metric, key, CAST(sum(count) AS bigint) AS count, sum(total) AS total"
            f" FROM insight_counts WHERE {clause} GROUP BY metric, key",
            *args,
        )

    async def volume(self, where: Filter) -> list[Row]:
        """(hour, direction, calls) for each hour with calls."""
        clause, args = where.where(daily=False)
        return await self.sql.fetch(
            "SELECT hour, direction, CAST(sum(calls) AS bigint) AS calls FROM insight_volume"
            f" WHERE {clause} GROUP BY hour, direction ORDER BY hour",
            *args,
        )

    async def versions(self, flow: str) -> list[Row]:
        """(version, calls, first_hour, last_hour) of each version that took calls: its live period."""
        return await self.sql.fetch(
            "SELECT version, CAST(sum(calls) AS bigint) AS calls, min(hour) AS first_hour,"
            " max(hour) AS last_hour FROM insight_volume WHERE flow = $1 GROUP BY version ORDER BY version",
            flow,
        )

    async def languages(self, flow: str) -> list[str]:
        rows = await self.sql.fetch("SELECT DISTINCT language FROM insight_volume WHERE flow = $1", flow)
        return sorted(str(r["language"]) for r in rows)


class SqlSurveyAnswers:
    """`SurveyAnswers` on the `survey_answers` table."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def scores(self, since: float, until: float) -> list[Row]:
        return await self.sql.fetch(
            "SELECT CAST(answered_at AS bigint) / 86400 AS day, score, CAST(count(*) AS bigint) AS answers"
            " FROM survey_answers WHERE answered_at >= $1 AND answered_at < $2 GROUP BY 1, 2 ORDER BY 1, 2",
            since,
            until,
        )
