"""The figures supervisors read, from the roll-ups: what `ivr stats --json` prints and the
insights page shows (the same names in both).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr.flow.schema import Flow, MenuState
from ivr.insights.facts import WAIT_BUCKETS, HandoffResult, Metric
from ivr.insights.paths import happy_chain, main_paths
from ivr.insights.store import Filter, InsightStore, SurveyAnswers
from ivr.store.sql import Row

ALL_TIME_HOURS = 24 * 2**30
"""An end of time for a version's own period (its day still fits a 32-bit integer column)."""
MIN_CALLS = 30
"""Fewer calls than this on either side of a comparison: too few to tell."""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(buckets: dict[int, int], share: float) -> int | None:
    """The wait bucket (upper bound, seconds) that holds this share of the waits."""
    total = sum(buckets.values())
    if not total:
        return None
    seen = 0
    for bound in WAIT_BUCKETS:
        seen += buckets.get(bound, 0)
        if seen >= share * total:
            return bound
    return WAIT_BUCKETS[-1]


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed roll-up rows: count and total by (metric, key)."""

    counts: dict[tuple[str, str], int]
    sums: dict[tuple[str, str], float]

    @classmethod
    def of(cls, rows: Sequence[Row]) -> Totals:
        counts: dict[tuple[str, str], int] = {}
        sums: dict[tuple[str, str], float] = {}
        for row in rows:
            key = (str(row["metric"]), str(row["key"]))
            counts[key] = int(row["count"])
            sums[key] = float(row["total"])
        return cls(counts, sums)

    def n(self, metric: Metric, key: str = "") -> int:
        return self.counts.get((metric.value, key), 0)

    def by(self, metric: Metric) -> dict[str, int]:
        found = {key: n for (m, key), n in self.counts.items() if m == metric.value}
        return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))

    def total(self, metric: Metric, key: str = "") -> float:
        return self.sums.get((metric.value, key), 0.0)


def summary(totals: Totals, flow: Flow | None) -> dict[str, Any]:
    """The figures of one set of calls (a period, or one version's calls); `flow` (the one
    they ran on) names the menus and the main paths."""
    calls = totals.n(Metric.CALLS)
    contained = totals.n(Metric.CONTAINED)
    reasons = totals.by(Metric.TRANSFERRED)
    transferred = sum(reasons.values())
    results = totals.by(Metric.HANDOFF_RESULT)
    waits = {int(k): n for k, n in totals.by(Metric.QUEUE_WAIT).items()}
    queued = sum(waits.values())
    menus = [n for n, state in flow.states.items() if isinstance(state, MenuState)] if flow else []
    inputs = totals.by(Metric.INPUT)
    understanding = {
        state: {
            "inputs": inputs.get(state, 0),
            "no_match": totals.n(Metric.NO_MATCH, state),
            "no_input": totals.n(Metric.NO_INPUT, state),
            "keypad": totals.n(Metric.KEYPAD, state),
            "speech": totals.n(Metric.SPEECH, state),
        }
        for state in inputs
    }
    misheard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, n in totals.by(Metric.MISHEARD).items():
        state, _, words = key.partition("\t")
        if len(misheard[state]) < 10:
            misheard[state].append({"words": words, "calls": n})
    passed = totals.by(Metric.PASSED)
    drop_off = totals.by(Metric.DROP_OFF)
    handed_from = totals.by(Metric.HANDED_FROM)
    abandoned = results.get(HandoffResult.ABANDONED.value, 0)
    return {
        "calls": calls,
        "contained": contained,
        "containment_rate": _rate(contained, calls),
        "transferred": transferred,
        "transfer_reasons": reasons,
        "handoff_results": results,
        "abandoned": abandoned,
        "abandoned_wait_seconds": (
            round(totals.total(Metric.HANDOFF_RESULT, HandoffResult.ABANDONED.value) / abandoned, 1)
            if abandoned
            else None
        ),
        "queue_wait": {
            "calls": queued,
            "median_at_most": _percentile(waits, 0.5),
            "p90_at_most": _percentile(waits, 0.9),
        },
        "outcomes": totals.by(Metric.OUTCOME),
        "drop_off": drop_off,
        "handed_from": handed_from,
        "states": {
            state: {"passed": n, "dropped": drop_off.get(state, 0), "handed_over": handed_from.get(state, 0)}
            for state, n in passed.items()
        },
        "no_match_rate": {
            s: _rate(u["no_match"], u["inputs"]) for s, u in understanding.items() if s in menus
        },
        "no_input_rate": {
            s: _rate(u["no_input"], u["inputs"]) for s, u in understanding.items() if s in menus
        },
        "understanding": understanding,
        "misheard": dict(misheard),
        "paths": _paths(totals, flow, passed) if flow else [],
        "average_call_seconds": round(totals.total(Metric.CALLS) / calls, 1) if calls else None,
    }


def _paths(totals: Totals, flow: Flow, passed: dict[str, int]) -> list[dict[str, Any]]:
    """Each main path: calls that took it, answered, the average time to the answer, its funnel."""
    paths = []
    for entry in main_paths(flow):
        answered = totals.n(Metric.ANSWERED, entry)
        seconds = totals.total(Metric.ANSWERED, entry)
        paths.append(
            {
                "path": entry,
                "calls": totals.n(Metric.PATH, entry),
                "answered": answered,
                "answer_seconds": round(seconds / answered, 1) if answered else None,
                "funnel": [{"state": s, "calls": passed.get(s, 0)} for s in happy_chain(flow, entry)],
            }
        )
    return paths


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Whether two sets of calls differ in containment beyond chance (a two-proportion z-test),
    or are too few to tell."""
    n1, n2 = a["calls"], b["calls"]
    if min(n1, n2) < MIN_CALLS:
        return {
            "verdict": "too_few_calls",
            "text": f"Too few calls to tell (fewer than {MIN_CALLS} on a side).",
        }
    p1, p2 = a["contained"] / n1, b["contained"] / n2
    pooled = (a["contained"] + b["contained"]) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / spread if spread else 0.0
    if abs(z) < 1.96:
        return {
            "verdict": "no_clear_difference",
            "text": "No clear difference in containment yet.",
            "z": round(z, 2),
        }
    better = "better" if z > 0 else "worse"
    return {"verdict": better, "text": f"Containment is {better} on the newer version.", "z": round(z, 2)}


async def satisfaction(surveys: SurveyAnswers, since: float, until: float) -> dict[str, Any] | None:
    """Average, distribution and daily trend of survey scores; None when no survey ran."""
    rows = await surveys.scores(since, until)
    if not rows:
        return None
    distribution = {str(score): 0 for score in range(1, 6)}
    days: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        score, n = int(row["score"]), int(row["answers"])
        distribution[str(score)] = distribution.get(str(score), 0) + n
        days[int(row["day"])][0] += score * n
        days[int(row["day"])][1] += n
    answers = sum(distribution.values())
    return {
        "answers": answers,
        "average": round(sum(int(s) * n for s, n in distribution.items()) / answers, 2),
        "distribution": distribution,
        "trend": [
            {"day": datetime.fromtimestamp(day * 86400, UTC).date().isoformat(), "average": round(t / n, 2)}
            for day, (t, n) in sorted(days.items())
        ],
    }


def volume(rows: Sequence[Row]) -> dict[str, Any]:
    """Calls per hour and per day (inbound and outbound), and the weekday × hour heat map (UTC)."""
    per_hour: list[dict[str, Any]] = []
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    heat = [[0] * 24 for _ in range(7)]
    for row in rows:
        at = datetime.fromtimestamp(int(row["hour"]) * 3600, UTC)
        n, direction = int(row["calls"]), str(row["direction"])
        per_hour.append({"hour": at.strftime("%Y-%m-%d %H:00"), "direction": direction, "calls": n})
        per_day[at.date().isoformat()][direction] += n
        heat[at.weekday()][at.hour] += n
    return {
        "per_hour": per_hour,
        "per_day": [{"day": day, **dict(counts)} for day, counts in sorted(per_day.items())],
        "heat_map": heat,
    }


async def figures(
    store: InsightStore, surveys: SurveyAnswers, flow: Flow | None, where: Filter, *, detail: bool = False
) -> dict[str, Any]:
    """Everything for one period: the summary, satisfaction, and (detail) volume."""
    rows, scores, hours = await asyncio.gather(
        store.totals(where),
        satisfaction(surveys, where.since_hour * 3600.0, where.until_hour * 3600.0),
        store.volume(where) if detail else asyncio.sleep(0, []),
    )
    result = summary(Totals.of(rows), flow)
    result["satisfaction"] = scores
    if detail:
        result["volume"] = volume(hours)
    return result


async def version_comparison(
    store: InsightStore,
    flow_name: str,
    flows: dict[int, Flow | None],
    older: int,
    newer: int,
    language: str | None,
) -> dict[str, Any]:
    """Two versions side by side, each over its own live period (all the calls it took)."""
    both = await asyncio.gather(
        *(store.totals(Filter(flow_name, 0, ALL_TIME_HOURS, number, language)) for number in (older, newer))
    )
    sides = {str(n): summary(Totals.of(rows), flows[n]) for n, rows in zip((older, newer), both, strict=True)}
    return {
        "older": older,
        "newer": newer,
        "versions": sides,
        **compare(sides[str(older)], sides[str(newer)]),
    }
