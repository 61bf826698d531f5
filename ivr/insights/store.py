"""The insights' SQL, one text for SQLite and PostgreSQL (through `ivr.store.sql.Sql`).

Writes add finished calls' counts to the roll-ups in one transaction; reads sum
the roll-ups of a period (and filters) in the database. Queue waits are kept one row per
call, and their median and 90th percentile worked out in SQL over the period's rows
(`QueueWaits`), exactly. Satisfaction comes from the `survey_answers` table (call,
campaign, score 1-5, time), behind `SurveyAnswers`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.insights.facts import Count, Metric, QueueVisit
from ivr.store.sql import PostgresSql, Row, Sql, Statement

FOLD_BATCH = 500
"""Calls counted per transaction: a few hundred distinct roll-up rows, a short write lock."""

ADD = (
    "INSERT INTO insight_counts (day, flow, version, language, direction, metric, key, count, total)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (day, flow, version, language, direction, metric, key) DO UPDATE"
    " SET count = insight_counts.count + excluded.count, total = insight_counts.total + excluded.total"
)
ADD_VOLUME = (
    "INSERT INTO insight_volume (quarter, flow, version, language, direction, calls, seconds)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (quarter, flow, version, language, direction) DO UPDATE"
    " SET calls = insight_volume.calls + excluded.calls, seconds = insight_volume.seconds + excluded.seconds"
)
ADD_WAIT = (
    "INSERT INTO insight_waits (call_sid, day, flow, version, language, direction, seconds)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_sid) DO NOTHING"
)
UNFILE_CHUNK = 100
"""Counted calls taken off the list per statement: each is a term of an OR (both databases
look each up by the key), and SQLite allows expressions at most 1,000 deep."""
Slots = dict[tuple[Any, ...], list[float]]


@dataclass(frozen=True, slots=True)
class Merged:
    """Counts as the roll-ups' rows."""

    days: Slots
    """(day, flow, version, language, direction, metric, key) → [count, total]."""
    quarters: Slots
    """(quarter, flow, version, language, direction) → [calls, seconds]."""
    waits: list[tuple[Any, ...]]
    """(call, day, flow, version, language, direction, seconds): one row per queued call."""


def merge(counts: Iterable[Count]) -> Merged:
    """Counts summed into the roll-ups' rows; queue waits kept one by one."""
    merged = Merged(defaultdict(lambda: [0, 0.0]), defaultdict(lambda: [0, 0.0]), [])
    for c in counts:
        if c.metric is Metric.QUEUE_WAIT:
            merged.waits.append((c.key, c.day, c.flow, c.version, c.language, c.direction, c.total))
            continue
        slot = merged.days[(c.day, c.flow, c.version, c.language, c.direction, c.metric.value, c.key)]
        slot[0] += c.count
        slot[1] += c.total
        if c.metric is Metric.CALLS:
            slot = merged.quarters[(c.quarter, c.flow, c.version, c.language, c.direction)]
            slot[0] += c.count
            slot[1] += c.total
    return merged


def rollup(counts: Iterable[Count]) -> list[Statement]:
    """The statements that add these counts to the roll-ups."""
    merged = merge(counts)
    return [
        *(Statement(ADD, (*key, int(n), float(t))) for key, (n, t) in merged.days.items()),
        *(Statement(ADD_VOLUME, (*key, int(n), float(t))) for key, (n, t) in merged.quarters.items()),
        *(Statement(ADD_WAIT, row) for row in merged.waits),
    ]


@dataclass(frozen=True, slots=True)
class Filter:
    """Which calls a figure counts: started on local days [since_day, until_day) (the daily
    roll-up, the waits), or in UTC quarter hours [since_quarter, until_quarter) (volume: the
    same period, to the quarter hour); optionally one flow version and one language."""

    flow: str
    since_day: int
    until_day: int
    since_quarter: int
    until_quarter: int
    version: int | None = None
    language: str | None = None

    def where(self, *, daily: bool, walk: bool = False) -> tuple[str, list[Any]]:
        """The SQL condition and its arguments; `walk`: one that SQLite cannot answer from an
        index on the day (a unary plus), so that it walks an index in another order."""
        if daily:
            day = "+day" if walk else "day"
            clauses = ["flow = $1", f"{day} >= $2", f"{day} < $3"]
            args: list[Any] = [self.flow, self.since_day, self.until_day]
        else:
            clauses = ["flow = $1", "quarter >= $2", "quarter < $3"]
            args = [self.flow, self.since_quarter, self.until_quarter]
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
        """Rows of (quarter, score, answers) answered in [since, until), quarter as the UTC
        quarter hour (seconds since the epoch // 900: the line's days are made of them)."""
        ...


@dataclass(frozen=True, slots=True)
class QueueWaits:
    """The queue waits of a set of calls: how many, and their median and 90th percentile in
    seconds (interpolated between the two nearest waits, as PostgreSQL's `percentile_cont`)."""

    calls: int
    median: float | None
    p90: float | None


MEDIAN, P90 = 5, 9
"""The percentiles of the queue waits, in tenths (integers: the ranks are worked out exactly)."""
PERCENTILES = (
    "SELECT CAST(count(*) AS bigint) AS n,"
    f" percentile_cont({MEDIAN / 10}) WITHIN GROUP (ORDER BY seconds) AS median,"
    f" percentile_cont({P90 / 10}) WITHIN GROUP (ORDER BY seconds) AS p90"
    " FROM insight_waits WHERE {where}"
)
"""PostgreSQL: both percentiles in one pass over the period's waits."""


def percentile(ranked: dict[int, float], n: int, tenths: int) -> float:
    """The percentile from the waits ranked ⌊(n-1)·share⌋ and the next (counted from 0 in
    ascending order), interpolated linearly between them as PostgreSQL's `percentile_cont`."""
    low, rest = divmod((n - 1) * tenths, 10)
    below = ranked[low]
    return below + rest / 10 * (ranked.get(low + 1, below) - below)


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
    def unfile(filed: Sequence[tuple[str, float]]) -> list[Statement]:
        """Take counted calls (as `filed` read them) off the list, each by its key (ended_at,
        call_sid); the batch fails if any was taken off by another."""
        statements = []
        for start in range(0, len(filed), UNFILE_CHUNK):
            chunk = filed[start : start + UNFILE_CHUNK]
            pairs = " OR ".join(
                f"(ended_at = ${2 * i + 1} AND call_sid = ${2 * i + 2})" for i in range(len(chunk))
            )
            args = tuple(value for call_sid, ended_at in chunk for value in (ended_at, call_sid))
            statements.append(Statement(f"DELETE FROM insight_calls WHERE {pairs}", args, len(chunk)))
        return statements

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

    async def waits(self, where: Filter) -> QueueWaits:
        """The period's queue waits, their median and 90th percentile exact: PostgreSQL's
        `percentile_cont`; on SQLite the two waits around each percentile's rank, read by
        walking the waits' index in order (a few tens of milliseconds for a month's)."""
        clause, args = where.where(daily=True)
        if isinstance(self.sql, PostgresSql):
            row = await self.sql.fetchone(PERCENTILES.format(where=clause), *args)
            if row is None or not row["n"]:
                return QueueWaits(0, None, None)
            return QueueWaits(int(row["n"]), float(row["median"]), float(row["p90"]))
        row = await self.sql.fetchone(f"SELECT count(*) AS n FROM insight_waits WHERE {clause}", *args)
        n = int(row["n"]) if row else 0
        if not n:
            return QueueWaits(0, None, None)
        ranked: dict[int, float] = {}
        for tenths in (MEDIAN, P90):
            ranked.update(await self._around((n - 1) * tenths // 10, n, where))
        return QueueWaits(n, percentile(ranked, n, MEDIAN), percentile(ranked, n, P90))

    async def _around(self, rank: int, n: int, where: Filter) -> dict[int, float]:
        """The waits ranked `rank` and `rank + 1` of the `n` (ascending), read from the nearer
        end of the `insight_waits_order` index (`+day`: not by the day index, which would
        sort them all)."""
        clause, args = where.where(daily=True, walk=True)
        if rank < n // 2:
            order, skip = "", rank
        else:
            order, skip = " DESC", max(0, n - 2 - rank)
        rows = await self.sql.fetch(
            f"SELECT seconds FROM insight_waits WHERE {clause} ORDER BY seconds{order}"
            f" LIMIT 2 OFFSET {int(skip)}",
            *args,
        )
        ranks = [skip + i if not order else n - 1 - skip - i for i in range(len(rows))]
        return {r: float(row["seconds"]) for r, row in zip(ranks, rows, strict=True)}

    async def volume(self, where: Filter) -> list[Row]:
        """(quarter, direction, calls) for each quarter hour with calls."""
        clause, args = where.where(daily=False)
        return await self.sql.fetch(
            "SELECT quarter, direction, CAST(sum(calls) AS bigint) AS calls FROM insight_volume"
            f" WHERE {clause} GROUP BY quarter, direction ORDER BY quarter",
            *args,
        )

    async def versions(self, flow: str) -> list[Row]:
        """(version, calls, first_quarter, last_quarter) of each version that took calls: its
        live period."""
        return await self.sql.fetch(
            "SELECT version, CAST(sum(calls) AS bigint) AS calls, min(quarter) AS first_quarter,"
            " max(quarter) AS last_quarter FROM insight_volume WHERE flow = $1 GROUP BY version"
            " ORDER BY version",
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
            f"SELECT {SECOND} / 900 AS quarter, score, CAST(count(*) AS bigint) AS answers"
            " FROM survey_answers WHERE answered_at >= $1 AND answered_at < $2 GROUP BY 1, 2 ORDER BY 1, 2",
            since,
            until,
        )


SECOND = (
    "(CAST(answered_at AS bigint) - CASE WHEN CAST(answered_at AS bigint) > answered_at THEN 1 ELSE 0 END)"
)
"""The whole second of `answered_at`, rounded down in both databases (a cast truncates on
SQLite and rounds on PostgreSQL)."""
