"""The figures supervisors read, from the roll-ups: what `ivr stats --json` prints and the
insights page shows (the same names in both). Days and hours are the line's own (its time
zone), worked out from UTC quarter hours as they are read, so summer time is right.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from ivr.flow.schema import Flow, MenuState
from ivr.insights.days import QUARTER, LocalTime
from ivr.insights.facts import HandoffResult, Metric
from ivr.insights.paths import happy_chain, main_paths
from ivr.insights.store import Filter, InsightStore, QueueWaits, SurveyAnswers
from ivr.store.sql import Row

ALL_TIME = Filter("", 0, 2**30, 0, 96 * 2**30)
"""All days (the day still fits a 32-bit integer column): a version's own period."""
MIN_CALLS = 30
"""Fewer calls than this on either side of a comparison: too few to tell."""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


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


def summary(totals: Totals, waits: QueueWaits, flow: Flow | None) -> dict[str, Any]:
    """The figures of one set of calls (a period, or one version's calls); `flow` (the one
    they ran on) names the menus and the main paths."""
    calls = totals.n(Metric.CALLS)
    contained = totals.n(Metric.CONTAINED)
    reasons = totals.by(Metric.TRANSFERRED)
    transferred = sum(reasons.values())
    results = totals.by(Metric.HANDOFF_RESULT)
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
            "calls": waits.calls,
            "median_seconds": _seconds(waits.median),
            "p90_seconds": _seconds(waits.p90),
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
        "paths": _paths(totals, flow) if flow else [],
        "average_call_seconds": round(totals.total(Metric.CALLS) / calls, 1) if calls else None,
        "self_service": _self_service(totals),
    }


def _self_service(totals: Totals) -> dict[str, dict[str, int]]:
    """Jobs the line finished itself, each as calls that had it done and how many of those
    ended without a person (the containment it adds): {"returns_started": {"calls", "contained"}}."""
    counted = totals.by(Metric.SELF_SERVICE)
    return {
        what: {"calls": n, "contained": counted.get(f"{what}_contained", 0)}
        for what, n in sorted(counted.items())
        if not what.endswith("_contained")
    }


def _paths(totals: Totals, flow: Flow) -> list[dict[str, Any]]:
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
                "funnel": [
                    {"state": s, "calls": totals.n(Metric.PATH_STEP, f"{entry}\t{s}")}
                    for s in happy_chain(flow, entry)
                ],
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


async def satisfaction(
    surveys: SurveyAnswers, since: float, until: float, zone: tzinfo
) -> dict[str, Any] | None:
    """Average, distribution and daily trend (local days) of survey scores; None when no survey ran."""
    rows = await surveys.scores(since, until)
    if not rows:
        return None
    clock = LocalTime(zone)
    distribution = {str(score): 0 for score in range(1, 6)}
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        score, n = int(row["score"]), int(row["answers"])
        distribution[str(score)] = distribution.get(str(score), 0) + n
        day = days[clock.hour(int(row["quarter"])).day]
        day[0] += score * n
        day[1] += n
    answers = sum(distribution.values())
    return {
        "answers": answers,
        "average": round(sum(int(s) * n for s, n in distribution.items()) / answers, 2),
        "distribution": distribution,
        "trend": [{"day": day, "average": round(t / n, 2)} for day, (t, n) in sorted(days.items())],
    }


def volume(rows: Sequence[Row], zone: tzinfo) -> dict[str, Any]:
    """Calls per local hour and day (inbound and outbound), and the weekday × hour heat map
    in the line's time zone, from the calls per UTC quarter hour."""
    clock = LocalTime(zone)
    per_hour: dict[tuple[str, str], int] = defaultdict(int)
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    heat = [[0] * 24 for _ in range(7)]
    for row in rows:
        at = clock.hour(int(row["quarter"]))
        n, direction = int(row["calls"]), str(row["direction"])
        per_hour[(at.label, direction)] += n
        per_day[at.day][direction] += n
        heat[at.weekday][at.hour] += n
    return {
        "per_hour": [
            {"hour": hour, "direction": direction, "calls": n} for (hour, direction), n in per_hour.items()
        ],
        "per_day": [{"day": day, **dict(counts)} for day, counts in sorted(per_day.items())],
        "heat_map": heat,
    }


async def figures(
    store: InsightStore,
    surveys: SurveyAnswers,
    flow: Flow | None,
    where: Filter,
    zone: tzinfo,
    *,
    detail: bool = False,
) -> dict[str, Any]:
    """Everything for one period: the summary, satisfaction, and (detail) volume."""
    rows, waits, scores, quarters = await asyncio.gather(
        store.totals(where),
        store.waits(where),
        satisfaction(surveys, where.since_quarter * QUARTER, where.until_quarter * QUARTER, zone),
        store.volume(where) if detail else asyncio.sleep(0, []),
    )
    result = summary(Totals.of(rows), waits, flow)
    result["satisfaction"] = scores
    if detail:
        result["volume"] = volume(quarters, zone)
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
    wheres = [replace(ALL_TIME, flow=flow_name, version=n, language=language) for n in (older, newer)]
    both, waits = await asyncio.gather(
        asyncio.gather(*(store.totals(where) for where in wheres)),
        asyncio.gather(*(store.waits(where) for where in wheres)),
    )
    sides = {
        str(n): summary(Totals.of(rows), queued, flows[n])
        for n, rows, queued in zip((older, newer), both, waits, strict=True)
    }
    return {
        "older": older,
        "newer": newer,
        "versions": sides,
        **compare(sides[str(older)], sides[str(newer)]),
    }
