"""Redis behind the SessionStore interface: live call state shared by several servers.

Key layout: one hash per call, `{prefix}call:{call_sid}`, with three fields:

- `seq`: the session's turn number as a decimal string;
- `data`: the call's state as `CallSession.state_json()` (compact JSON, a few hundred
  bytes), or its whole record (`to_json()`) once it has ended;
- `answer`: the record of the answer turn `seq` gave (`ivr.answers`), for a repeated webhook;

and a list per call, `{prefix}lines:{call_sid}`, to which each turn appends its transcript
lines (one JSON list per turn), so a turn writes its own lines, never the call's whole
transcript again; the list is folded into `data` when the call ends.

A hash rather than one JSON string because the compare-and-set in `save` only has to
read `seq`: the Lua script compares two short strings instead of decoding the session
with cjson on every turn, and `HGET key seq` shows where a call stands without parsing
anything.

Every write is one Lua script (atomic on the server) that also sets the keys' TTL:
`live_ttl` while the call is in progress, `ended_ttl` once its status is final, so a
call whose final status callback never arrives still disappears. Records that must
outlive the live session belong to a `CallLog` (see `base.CallLog.archive`), reached
through the archive outbox (`ivr.store.outbox`), which keeps its own copy until then.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from ivr.session import FINAL_STATUSES, CallSession, assembled, lines_json
from ivr.store.base import IDLE_BATCH

MAX_CONNECTIONS = 64
"""Connections one instance may open to Redis; more concurrent requests wait for one (a
command takes well under a millisecond). Redis runs commands one at a time, so more
connections add no throughput; a burst of 256 new ones (each a handshake of several round
trips) took longer than the 5 s connect timeout on a busy machine and failed requests."""
POOL_TIMEOUT = 5.0
"""Seconds a request waits for a free connection before failing (then: apology + agent)."""

# KEYS[1] = call key, KEYS[2] = its lines; ARGV = seq, data, ttl, answer, lines ('' for none).
# Returns 1 if created, 0 if the call exists.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'data', ARGV[2], 'answer', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""

# KEYS[1] = call key, KEYS[2] = its lines; ARGV = expected seq, new seq, data, ttl, answer,
# lines ('' for none), '1' to file the call whole (drop its lines: `data` holds them now).
# Returns 1 if the stored seq was the expected one (and the session is replaced), else 0;
# a missing (never created or expired) call is 0, as an UPDATE that matches no row.
_SAVE = """
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'data', ARGV[3], 'answer', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[7] == '1' then
  redis.call('DEL', KEYS[2])
elseif ARGV[6] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""


class RedisUnavailable(ConnectionError):
    """The Redis server in the URL cannot be reached; the message names the URL's host."""


class RedisSessionStore:
    """Live sessions in Redis, one expiring hash per call."""

    def __init__(
        self, url: str, *, prefix: str = "ivr:", live_ttl: int = 4 * 3600, ended_ttl: int = 600
    ) -> None:
        if live_ttl <= 0 or ended_ttl <= 0:
            raise ValueError("live_ttl and ended_ttl must be positive numbers of seconds")
        self._url = url
        self.prefix = prefix
        """Every key this store (and the archive outbox beside it) writes starts with this."""
        self._live_ttl = live_ttl
        self._ended_ttl = ended_ttl
        self._client: Redis | None = None
        self._scripts: tuple[AsyncScript, AsyncScript] | None = None

    async def open(self) -> None:
        """Connect and PING; raises `RedisUnavailable` if the server does not answer."""
        # A blocking pool: redis-py's default pool raises at once past 100 connections, which
        # under load failed webhooks (and sent callers to an agent) instead of waiting briefly.
        pool = BlockingConnectionPool.from_url(
            self._url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT
        )
        client = Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
        try:
            await client.ping()
        except RedisError as error:
            await client.aclose()
            raise RedisUnavailable(f"Redis at {_where(self._url)} is not reachable: {error}") from error
        except BaseException:  # cancelled (a readiness probe's timeout): leave nothing open
            await client.aclose()
            raise
        if self._client is not None:  # two probes raced to reconnect: keep one client
            await client.aclose()
            return
        self._client = client
        self._scripts = (client.register_script(_CREATE), client.register_script(_SAVE))

    async def persistence(self) -> str | None:
        """Why this Redis would lose what it holds if it restarted (None: it persists, or the
        server does not let us ask).

        The archive outbox keeps ended calls here until the database takes them: with neither
        the append-only file nor snapshots, a Redis restart loses those call records."""
        try:
            config = await self.client.config_get("appendonly")
            config |= await self.client.config_get("save")
        except RedisError:
            return None  # CONFIG refused (a managed service, an ACL): nothing to tell
        if config.get("appendonly") == "yes" or str(config.get("save") or "").strip():
            return None
        return "persistence is off (appendonly no, save '')"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._scripts = None

    async def load(self, call_sid: str) -> CallSession | None:
        async with self.client.pipeline(transaction=True) as pipe:  # one snapshot of both keys
            pipe.hget(self._key(call_sid), "data")
            pipe.lrange(self.lines_key(call_sid), 0, -1)
            data, turns = await pipe.execute()
        return assembled(data, turns) if data is not None else None

    async def load_state(self, call_sid: str) -> CallSession | None:
        data = await self.client.hget(self._key(call_sid), "data")
        if data is None:
            return None
        session = CallSession.from_json(data)
        session.whole = False
        return session

    async def answer(self, call_sid: str, seq: int) -> str | None:
        stored_seq, answer = await self.client.hmget(self._key(call_sid), ["seq", "answer"])
        return str(answer) if stored_seq == str(seq) and answer else None

    async def create(self, session: CallSession) -> bool:
        create, _ = self._open_scripts()
        lines = session.new_lines()
        created = await create(
            keys=[self._key(session.call_sid), self.lines_key(session.call_sid)],
            args=[
                session.seq,
                session.state_json(),
                self._ttl(session),
                session.answer,
                lines_json(lines) if lines else "",
            ],
        )
        if created == 1:
            session.stored_lines = len(session.transcript)
        return created == 1

    async def save(self, session: CallSession, expected_seq: int) -> bool:
        final = session.status in FINAL_STATUSES
        if final and not session.whole:
            raise ValueError("a call is filed whole: end it on a session from load(), not load_state()")
        _, save = self._open_scripts()
        lines = session.new_lines()
        saved = await save(
            keys=[self._key(session.call_sid), self.lines_key(session.call_sid)],
            args=[
                expected_seq,
                session.seq,
                session.to_json() if final else session.state_json(),
                self._ttl(session),
                session.answer,
                lines_json(lines) if lines and not final else "",
                "1" if final else "0",
            ],
        )
        if saved == 1:
            session.stored_lines = len(session.transcript)
        return saved == 1

    async def idle(self, idle_for: float) -> Sequence[tuple[str, float]]:
        """Every write sets a live call's TTL to `live_ttl`, so what is left of it tells how
        long the call has gone unwritten; ended calls (a short TTL) are told apart by status."""
        now = time.time()
        found: list[tuple[str, float]] = []
        async for batch in self._key_batches():
            async with self.client.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.ttl(key)
                ttls = await pipe.execute()
            for key, ttl in zip(batch, ttls, strict=True):
                unwritten = self._live_ttl - ttl
                if ttl < 0 or unwritten < idle_for:
                    continue  # gone meanwhile, or written recently
                session = await self.load(key.removeprefix(f"{self.prefix}call:"))
                if session is not None and session.status not in FINAL_STATUSES:
                    found.append((session.call_sid, now - unwritten))
                    if len(found) >= IDLE_BATCH:
                        return found
        return found

    async def _key_batches(self) -> AsyncIterator[list[str]]:
        batch: list[str] = []
        async for key in self.client.scan_iter(match=f"{self.prefix}call:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                yield batch
                batch = []
        if batch:
            yield batch

    @property
    def client(self) -> Redis:
        """The open client, shared with the archive outbox (`ivr.store.outbox`)."""
        if self._client is None:
            raise RuntimeError("RedisSessionStore is not open: await open() first")
        return self._client

    def _open_scripts(self) -> tuple[AsyncScript, AsyncScript]:
        if self._scripts is None:
            raise RuntimeError("RedisSessionStore is not open: await open() first")
        return self._scripts

    def _key(self, call_sid: str) -> str:
        return f"{self.prefix}call:{call_sid}"

    def lines_key(self, call_sid: str) -> str:
        """The list of a live call's transcript lines, a JSON list per turn."""
        return f"{self.prefix}lines:{call_sid}"

    def _ttl(self, session: CallSession) -> int:
        return self._ended_ttl if session.status in FINAL_STATUSES else self._live_ttl


def _where(url: str) -> str:
    """The URL without its credentials, fit for an error message."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
