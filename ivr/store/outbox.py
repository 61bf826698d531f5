"""Finished calls on their way from Redis to the database, retried until the database takes them.

With live sessions in Redis, a call's record outlives it only once archived to the database
(`CallLog.archive`). Twilio does not retry its final status callback, and the live session
expires, so an archive that fails while the database is down (a restart, a fail-over, a cut
link) would lose the record for good. So every archive goes through an outbox in Redis:

- `{prefix}archive:data`, a hash: call sid -> the finished session (`CallSession.to_json()`);
- `{prefix}archive:due`, a sorted set: call sid -> when to try it next (Unix time).

`archive()` parks the session there first, then tries the database at once; on success
the entry goes, on failure it stays and a background task (`run`, one per instance) drains
the outbox with exponential backoff until the database answers. The outbox keeps its own
copy of the session, without a TTL, so the live key may expire meanwhile: that is what
makes it safe, rather than stretching the live session's TTL. Archiving is an upsert by
call sid, so two instances draining the same entry, or a retry after a success whose
answer was lost, write the same row twice and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from redis.exceptions import RedisError

from ivr.session import CallSession
from ivr.store.base import CallLog, CallSummary
from ivr.store.redis import RedisSessionStore

log = logging.getLogger(__name__)

ARCHIVE_TIMEOUT = 5.0
"""Seconds the immediate attempt may take, so a status callback is never held longer."""
FIRST_RETRY = 1.0
"""Seconds before the first retry after a failure; doubled after each failure since."""
MAX_RETRY = 60.0
"""The longest wait between retries while the database stays down."""
IDLE_CHECK = 30.0
"""How often an idle drainer looks for entries parked by an instance that has since died."""
BATCH = 50
"""Entries claimed at a time."""
LEASE = 60.0
"""Seconds a claimed entry is left to the instance that claimed it before others may take it."""

# KEYS[1] = due set; ARGV = now, lease until, batch. Claims due entries by pushing their due
# time to the lease's end, so other instances do not archive them at the same moment.
_CLAIM = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, sid in ipairs(sids) do
  redis.call('ZADD', KEYS[1], ARGV[2], sid)
end
return sids
"""


class ArchiveOutbox:
    """The `CallLog` of a Redis deployment: reads go to the database, archives via the outbox."""

    def __init__(self, sessions: RedisSessionStore, records: CallLog) -> None:
        self._sessions = sessions
        self._records = records
        self._data = f"{sessions.prefix}archive:data"
        self._due = f"{sessions.prefix}archive:due"
        self._wake = asyncio.Event()
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    async def list_calls(self, limit: int = 50) -> Sequence[CallSummary]:
        return await self._records.list_calls(limit)

    async def get_call(self, call_sid: str) -> CallSession | None:
        """The record, from the outbox while it waits there (the database may be down), else
        from the database: an ended call is known as ended from the moment it is parked."""
        parked = await self._sessions.client.hget(self._data, call_sid)
        if parked is not None:
            return CallSession.from_json(parked)
        return await self._records.get_call(call_sid)

    async def purge(self, started_before: float) -> int:
        return await self._records.purge(started_before)

    async def archive(self, session: CallSession) -> None:
        """Park the record in Redis, then try the database; raises only if Redis fails (then
        the caller, `SupportLine.status`, leaves the call live rather than losing it)."""
        redis = self._sessions.client
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._data, session.call_sid, session.to_json())
            pipe.zadd(self._due, {session.call_sid: time.time()})
            await pipe.execute()
        try:
            async with asyncio.timeout(ARCHIVE_TIMEOUT):
                await self._records.archive(session)
        except Exception as exc:  # any driver error or a timeout: the outbox retries it
            log.warning("archive_deferred: call %s: %s", session.call_sid, _reason(exc))
            if not self._failing:  # while backing off, the next retry comes soon enough
                self._wake.set()
            return
        await self._done(session.call_sid)

    async def pending(self) -> int:
        """Records waiting for the database (for tests and an operator's look)."""
        return int(await self._sessions.client.zcard(self._due))

    async def drain(self) -> bool:
        """Archive every entry due now; False at the first failure (the rest wait for a retry)."""
        redis = self._sessions.client
        while True:
            now = time.time()
            sids: list[str] = await redis.eval(_CLAIM, 1, self._due, now, now + LEASE, BATCH)
            for sid in sids:
                data = await redis.hget(self._data, sid)
                if data is None:  # archived by another instance meanwhile
                    await redis.zrem(self._due, sid)
                    continue
                try:
                    async with asyncio.timeout(ARCHIVE_TIMEOUT):
                        await self._records.archive(CallSession.from_json(data))
                except Exception as exc:  # the database is still down: this one first next time
                    await redis.zadd(self._due, {sid: now})
                    log.warning("archive_retry_failed: call %s: %s", sid, _reason(exc))
                    return False
                await self._done(sid)
                log.info("archive_recovered: call %s", sid)
            if len(sids) < BATCH:
                return True

    async def run(self) -> None:
        """Drain until cancelled: at once when an archive fails, then with doubling waits
        while the database stays down, and every `IDLE_CHECK` seconds otherwise."""
        wait = IDLE_CHECK
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            try:
                drained = await self.drain()
            except (RedisError, RuntimeError) as exc:  # Redis down or not yet connected
                log.warning("archive_outbox_unavailable: %s", _reason(exc))
                drained = False
            if drained:
                self._failing, wait = False, IDLE_CHECK
            else:
                wait = min(wait * 2, MAX_RETRY) if self._failing else FIRST_RETRY
                self._failing = True

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="archive-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _done(self, call_sid: str) -> None:
        async with self._sessions.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._due, call_sid)
            pipe.hdel(self._data, call_sid)
            await pipe.execute()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
