"""Background work owned by the app (`cleanup_ctx`): folding insights, the daily purge, the
sweeper of calls without a final status, delivering events, error counting, and closing live
streams at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ivr.deliveries import Deliverer
from ivr.insights.service import Insights
from ivr.line import SupportLine
from ivr.markets import Markets
from ivr.metrics import ErrorCounter, Metrics
from ivr.store.retention import purge
from ivr.store.sql import Sql
from ivr.web.keys import STREAMS

log = logging.getLogger(__name__)


SWEEP_EVERY = 300.0
"""The longest wait between two sweeps for calls whose final status never arrived."""


FOLD_INSIGHTS_EVERY = 15.0
"""Seconds between folds of ended calls into the insights' hourly roll-ups (reading folds too)."""


def fold_insights(insights: Insights) -> Callable[[web.Application], AsyncIterator[None]]:
    """Fold ended calls into the roll-ups now and then, so a page read has little left to do."""

    async def folding() -> None:
        while True:
            await asyncio.sleep(FOLD_INSIGHTS_EVERY)
            try:
                await insights.fold(None)
            except Exception:
                log.exception("insights_fold_failed: trying again in %s s", FOLD_INSIGHTS_EVERY)

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(folding())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


PURGE_EVERY = 24 * 3600.0
"""Seconds between retention purges: records are kept for days, so once a day is on time."""


FIRST_PURGE_AFTER = 60.0
"""Seconds after start-up before the first purge, out of the way of the first calls."""


def purge_daily(sql: Sql, markets: Markets) -> Callable[[web.Application], AsyncIterator[None]]:
    """Apply the markets' retention once a day (`ivr.store.retention`); every instance may run
    it, as a second run finds nothing left to do."""

    async def purging() -> None:
        await asyncio.sleep(FIRST_PURGE_AFTER)
        while True:
            try:
                done = await purge(sql, markets.retention, time.time(), markets.shortest_retention)
                log.info("retention_purge: %s", done)
            except Exception:
                log.exception("retention_purge_failed: trying again in %s s", PURGE_EVERY)
            await asyncio.sleep(PURGE_EVERY)

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(purging())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def sweeper(line: SupportLine, idle_for: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """Files calls whose final status never arrived as ended (`SupportLine.sweep`), every
    quarter of `idle_for` and at least every `SWEEP_EVERY` seconds, while the app runs."""
    every = min(idle_for / 4, SWEEP_EVERY)

    async def sweeping() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await line.sweep(idle_for)
            except Exception as exc:  # a store down: the next sweep tries again
                log.warning("sweep_failed: %s: %s", type(exc).__name__, exc)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sweeping(), name="call-sweeper")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return lifecycle


def deliver_events(deliverer: Deliverer) -> Callable[[web.Application], AsyncIterator[None]]:
    """Send the outbox's events to the company's endpoints while the app runs (every instance
    runs one; their claims keep each event to one of them). Appended after the stores' own
    lifecycle, so it stops before they close."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await deliverer.open()
        task = asyncio.create_task(deliverer.run(), name="event-deliveries")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await deliverer.close()

    return lifecycle


def count_errors(line_metrics: Metrics) -> Callable[[web.Application], AsyncIterator[None]]:
    """Count logged errors by their stable code, for `/metrics`."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        counter = ErrorCounter(line_metrics)
        counter.install()
        yield
        counter.uninstall()

    return lifecycle


async def close_streams(app: web.Application) -> None:
    """On shutdown, close media streams: Twilio asks /voice/stream-ended and the call goes on."""
    streams = app[STREAMS]
    for ws in list(streams):
        await ws.close(code=1001, message=b"server shutting down")
