"""The insights as one service over the stores: what `ivr stats` and the console page ask.

It finds the flow each figure is about (a published version's own flow, for its menus and
paths) and reads the roll-ups for a period, a version and a language. Periods are the
line's own days, in its time zone (`zone`: the business hours' zone, or IVR_TIME_ZONE).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ivr.flow.files import LINE_FLOW, compile_files
from ivr.flow.schema import Flow
from ivr.insights.counting import InsightFolder
from ivr.insights.days import QUARTER, LocalDays
from ivr.insights.report import figures, version_comparison
from ivr.insights.store import Filter, InsightStore, SqlSurveyAnswers, SurveyAnswers
from ivr.session import CallSession
from ivr.store.base import CallLog
from ivr.store.sql import Sql
from ivr.versions.store import FlowNotFound, FlowStore

READ_FOLD = 2000
"""Calls a read counts first, at most (a few hundred milliseconds)."""
Period = LocalDays
"""Days from `since` up to and including `until`, in the line's time zone."""


class Insights:
    def __init__(
        self,
        sql: Sql,
        flows: FlowStore,
        calls: CallLog,
        *,
        language: str,
        surveys: SurveyAnswers | None = None,
        name: str = LINE_FLOW,
        zone: tzinfo = UTC,
    ) -> None:
        self.store = InsightStore(sql)
        self.flows = flows
        self.zone = zone
        """The line's time zone: its days and hours are the ones counted and shown."""
        self.folder = InsightFolder(self.store, calls, self._flow_of, language=language, zone=zone)
        self.surveys = surveys or SqlSurveyAnswers(sql)
        self.name = name
        self._compiled: dict[int, Flow] = {}

    def today(self) -> date:
        """Today on the line's calendar."""
        return datetime.now(self.zone).date()

    async def _flow_of(self, session: CallSession) -> Flow | None:
        return await self.flow(session.flow_version or None)

    async def fold(self, most: int | None = READ_FOLD) -> int:
        """Count the calls filed since the last fold (every read does this first, up to
        `most`: a backlog, such as the records from before an upgrade, is the server's
        background work, and the figures say how many calls are still to count)."""
        return await self.folder.fold(most)

    async def flow(self, version: int | None) -> Flow | None:
        """The flow of a published version (None: the current one), or None if there is none."""
        if version and version in self._compiled:
            return self._compiled[version]
        try:
            found = await (
                self.flows.version(self.name, version) if version else self.flows.published(self.name)
            )
        except FlowNotFound:
            return None
        if found.number not in self._compiled:
            compiled = compile_files(found.files, language=self.flows.language)
            self._compiled[found.number] = compiled.flow
        return self._compiled[found.number]

    async def figures(
        self,
        period: Period,
        *,
        version: int | None = None,
        language: str | None = None,
        detail: bool = False,
        fold: bool = True,
    ) -> dict[str, Any]:
        """The figures of a period (`fold`: count the calls filed meanwhile first)."""
        if fold:
            await self.fold()
        where = Filter(self.name, *period.days(), *period.quarters(self.zone), version, language or None)
        flow = await self.flow(version)
        result = await figures(self.store, self.surveys, flow, where, self.zone, detail=detail)
        result["uncounted_calls"] = await self.store.pending()
        return {
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "time_zone": str(self.zone),
            "version": version,
            **result,
        }

    async def versions(self) -> list[dict[str, Any]]:
        """Each version that took calls, with its calls and its live period (to the quarter
        hour, in the line's time zone)."""
        return [
            {
                "version": int(row["version"]),
                "calls": int(row["calls"]),
                "first": self._local(int(row["first_quarter"])),
                "last": self._local(int(row["last_quarter"]) + 1),
            }
            for row in await self.store.versions(self.name)
        ]

    def _local(self, quarter: int) -> str:
        return datetime.fromtimestamp(quarter * QUARTER, self.zone).isoformat(timespec="minutes")

    async def languages(self) -> list[str]:
        return await self.store.languages(self.name)

    async def compare(
        self, older: int, newer: int, *, language: str | None = None, fold: bool = True
    ) -> dict[str, Any]:
        if fold:
            await self.fold()
        flows = {number: await self.flow(number) for number in (older, newer)}
        return await version_comparison(self.store, self.name, flows, older, newer, language or None)
