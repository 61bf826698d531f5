"""HTTP lookups with the care a phone call needs: a time budget, a cache, retries, a breaker.

A caller waits in silence while a lookup runs, so every lookup has a budget (2 s unless
the file says otherwise) that covers all of it, retries and `Retry-After` included; past
it the caller hears the honest sentence. Retries happen only for GET (reading twice
changes nothing) and only while the budget allows. A `Retry-After` longer than what is
left ends the lookup at once rather than waiting for nothing. A source that keeps failing
is not asked for a while (`Breaker`), so callers hear the fallback at once.

One `aiohttp.ClientSession` serves every lookup of the process (connections are reused,
which is most of a fast lookup's cost). Answers are cached for the call that asked (the
`CALL_SID` of the webhook being served) for `cache` seconds: a caller who asks twice asks
the shop once, while the next call always hears what the shop says now.

Nothing a source returns is logged: failures are logged with the source's name, the HTTP
status or the kind of error, and the time; URLs are logged as their template (the order
number or phone number it was filled with is personal data).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp

from ivr.config import ConfigError
from ivr.logs import CALL_SID
from ivr.records import Order
from ivr.sources.breaker import Breaker, BreakerState
from ivr.sources.spec import KEYS, Lookup, MappingError, Record, Request, SourcesSpec, expand_env, map_record
from ivr.store.base import SourceUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
"""The largest answer read: a lookup's record is a few kilobytes; more is a mistake (a page of
every order), refused rather than parsed on the event loop."""
BACKOFF = 0.1
"""Seconds before the first retry (doubled for the next) when the source gave no Retry-After."""
CACHE_ENTRIES = 10_000
"""Cached answers kept at most; expired ones go first, then the oldest."""


class SourceObserver(Protocol):
    """Where lookups are counted (`ivr.metrics.Metrics` implements it for `/metrics`)."""

    def source_lookup(self, source: str, outcome: str, seconds: float) -> None: ...

    def source_breaker(self, source: str, state: str) -> None: ...


class _Failed(Exception):
    """A lookup failed for a reason that is safe to log (no data of the answer)."""


class SourceAnswerInvalid(_Failed):
    """An answer that is not JSON the line can read (its text is never in the message)."""


def decode_answer(raw: bytes) -> Any:
    """An answer's bytes as JSON. Anything else is `SourceAnswerInvalid`: a body nested
    100,000 deep is Python's `RecursionError`, not a `ValueError`, and must not escape either."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise SourceAnswerInvalid("the answer is not JSON") from None


@dataclass
class Exchange:
    """One HTTP request and its answer, as `ivr sources test` shows them."""

    method: str
    url: str
    status: int
    seconds: float
    body: str


@dataclass
class Outcome:
    """What one lookup did: the records (empty: not found), the raw exchanges, the time."""

    records: list[Record] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""
    """Why the lookup failed, in full (a mapping problem quotes the value): for the operator."""


_NOT_FOUND = object()


class HttpSources:
    """The HTTP lookups of one sources file, for one process."""

    def __init__(
        self,
        spec: SourcesSpec,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: SourceObserver | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.spec = spec
        self.observer = observer
        self.clock = clock
        self._secrets: dict[str, str] = {}
        self._bases: dict[str, str] = {}
        for name, lookup in spec.lookups.items():
            try:
                self._bases[name] = expand_env(lookup.base_url, env)
            except KeyError as exc:
                raise ConfigError(
                    f"{spec.source}: '{name}' needs the environment variable {exc.args[0]} (its base_url)"
                ) from None
            for var in lookup.auth.env:
                if not env.get(var):
                    raise ConfigError(
                        f"{spec.source}: '{name}' needs the environment variable {var} (its auth)"
                    )
                self._secrets[var] = env[var]
        self.breakers = {name: Breaker(lk.failures, lk.open_for, clock) for name, lk in spec.lookups.items()}
        self._cache: dict[tuple[str, str, str], tuple[float, list[Record]]] = {}
        self._session: aiohttp.ClientSession | None = None

    def serves(self, name: str) -> bool:
        return name in self.spec.lookups

    async def open(self) -> None:
        """The process's one client session (connections kept alive between lookups)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
                headers={"Accept": "application/json", "User-Agent": "acme-ivr-sources"},
            )
        for name, breaker in self.breakers.items():
            self._observe_breaker(name, breaker.state)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- lookups -------------------------------------------------------------------------------

    async def one(self, name: str, key: str) -> Record | None:
        """The record `key` names, None if the source has none; `SourceUnavailable` if it cannot say."""
        records = await self.records(name, key)
        return records[0] if records else None

    async def records(self, name: str, key: str) -> list[Record]:
        call = CALL_SID.get()
        lookup = self.spec.lookups[name]
        if call and lookup.cache:
            hit = self._cache.get((call, name, key))
            if hit is not None and hit[0] > self.clock():
                self._count(name, "cached", 0.0)
                return hit[1]
        outcome = await self.look_up(name, key)
        if call and lookup.cache:
            self._remember((call, name, key), outcome.records, lookup.cache)
            if name == "customers.orders" and self.serves("orders"):  # the greeting's order, asked next
                for record in outcome.records:
                    if isinstance(record, Order):
                        self._remember((call, "orders", record.order_number), [record], lookup.cache)
        return outcome.records

    async def look_up(self, name: str, key: str, trace: Outcome | None = None) -> Outcome:
        """One lookup through the breaker and within the budget. With `trace` (`ivr sources
        test`), the raw exchanges and the full reason of a failure are kept in it."""
        lookup = self.spec.lookups[name]
        breaker = self.breakers[name]
        if not breaker.allow():
            self._count(name, "open", 0.0)
            raise SourceUnavailable(_kind(name), "resting after repeated failures (breaker open)")
        outcome = trace or Outcome()
        keep = trace is not None
        start = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + lookup.timeout
        try:
            async with asyncio.timeout(lookup.timeout):
                await self._exchange(lookup, key, deadline, outcome, keep)
        except TimeoutError:
            outcome.problem = f"no answer within {lookup.timeout:g} s"
            self._failed(name, "timeout", start, f"source_timeout: {name}: {outcome.problem}")
            raise SourceUnavailable(_kind(name), outcome.problem) from None
        except MappingError as exc:
            outcome.problem = f"the answer cannot be mapped: {exc}"
            message = f"source_unmapped: {name}: field '{exc.field}' cannot be mapped"
            self._failed(name, "error", start, message)
            raise SourceUnavailable(_kind(name), f"the answer cannot be mapped ({exc.field})") from None
        except _Failed as exc:
            outcome.problem = str(exc)
            self._failed(name, "error", start, f"source_failed: {name}: {exc}")
            raise SourceUnavailable(_kind(name), str(exc)) from None
        except asyncio.CancelledError:  # the webhook went away: a half-open trial must not stay taken
            breaker.abandoned()
            raise
        finally:
            outcome.seconds = time.perf_counter() - start
        breaker.succeeded()
        self._observe_breaker(name, breaker.state)
        self._count(name, "found" if outcome.records else "not_found", outcome.seconds)
        return outcome

    async def _exchange(
        self, lookup: Lookup, key: str, deadline: float, outcome: Outcome, keep: bool
    ) -> None:
        values = {KEYS["customers" if lookup.name.startswith("customers.") else lookup.record_kind]: key}
        data: Any = None
        following = ""
        for request in lookup.requests:
            data, following = await self._request(lookup, request, values, deadline, outcome, keep)
            if data is _NOT_FOUND:
                return
            for let, path in request.let.items():
                value = path.first(data)
                if value is None or isinstance(value, dict | list) or value == "":
                    return  # the first request found nothing to go on: not found
                values[let] = str(value)
        items = lookup.select.select(data)
        for _ in range(lookup.pages - 1):
            if not following or not _same_origin(following, self._bases[lookup.name]):
                break  # credentials never follow a link to another host
            data, following = await self._request(
                lookup, Request("GET", following), {}, deadline, outcome, keep
            )
            if data is _NOT_FOUND:
                break
            items += lookup.select.select(data)
        outcome.records = [map_record(lookup, item) for item in items]

    async def _request(
        self,
        lookup: Lookup,
        request: Request,
        values: Mapping[str, str],
        deadline: float,
        outcome: Outcome,
        keep: bool,
    ) -> tuple[Any, str]:
        """The answer's JSON (or `_NOT_FOUND`) and the URL of its next page ("" if none)."""
        url = _fill(request.url, values, quoted=True)
        if not url.startswith(("http://", "https://")):
            url = self._bases[lookup.name] + url
        body = json.dumps(_fill_json(request.body, values)).encode() if request.body is not None else b""
        safe = request.method == "GET"
        tries = (lookup.retries + 1) if safe else 1
        loop = asyncio.get_running_loop()
        for attempt in range(tries):
            headers = {**lookup.headers, **self._auth(lookup, request.method, url, body)}
            if body:
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            try:
                assert self._session is not None, "HttpSources.open() was not awaited"
                async with self._session.request(
                    request.method, url, data=body or None, headers=headers, allow_redirects=False
                ) as response:
                    raw = await _read(response)
                    status = response.status
                    retry_after = response.headers.get("Retry-After", "")
                    following = _next_page(response)
            except aiohttp.ClientError as exc:
                if attempt + 1 < tries and loop.time() + BACKOFF < deadline:
                    await asyncio.sleep(BACKOFF * 2**attempt)
                    continue
                raise _Failed(f"{type(exc).__name__} ({_template(request)})") from None
            if keep:
                text = raw[:MAX_BODY].decode("utf-8", "replace")
                outcome.exchanges.append(
                    Exchange(request.method, url, status, time.perf_counter() - started, text)
                )
            if status == 404:
                return _NOT_FOUND, ""
            if status == 429 or status >= 500:
                wait = _seconds(retry_after) if retry_after else BACKOFF * 2**attempt
                if attempt + 1 < tries and wait is not None and loop.time() + wait < deadline:
                    await asyncio.sleep(wait)
                    continue
                tried = "1 try" if attempt == 0 else f"{attempt + 1} tries"
                raise _Failed(f"HTTP {status} after {tried} ({_template(request)})")
            if status >= 300:
                raise _Failed(f"HTTP {status} ({_template(request)})")
            if len(raw) > MAX_BODY:
                raise _Failed(f"answer larger than {MAX_BODY // 1024} KB ({_template(request)})")
            try:
                return decode_answer(raw), following
            except SourceAnswerInvalid:
                raise _Failed(f"the answer is not JSON ({_template(request)})") from None
        raise AssertionError("unreachable: the last try returns or raises")

    def _auth(self, lookup: Lookup, method: str, url: str, body: bytes) -> dict[str, str]:
        auth = lookup.auth
        if auth.kind == "bearer":
            return {"Authorization": f"Bearer {self._secrets[auth.env[0]]}"}
        if auth.kind == "basic":
            pair = f"{self._secrets[auth.env[0]]}:{self._secrets[auth.env[1]]}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if auth.kind == "header":
            return {auth.header: self._secrets[auth.env[0]]}
        if auth.kind == "hmac":
            return {
                auth.header: hmac_signature(self._secrets[auth.env[0]], method, url, body, int(time.time()))
            }
        return {}

    # --- bookkeeping ---------------------------------------------------------------------------

    def _remember(self, key: tuple[str, str, str], records: list[Record], ttl: float) -> None:
        now = self.clock()
        if len(self._cache) >= CACHE_ENTRIES:
            for stale in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[stale]
            while len(self._cache) >= CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (now + ttl, records)

    def _failed(self, name: str, outcome: str, start: float, message: str) -> None:
        breaker = self.breakers[name]
        was = breaker.state
        breaker.failed()
        self._count(name, outcome, time.perf_counter() - start)
        log.warning("%s", message)
        if breaker.state is BreakerState.OPEN and was is not BreakerState.OPEN:
            log.error(
                "source_open: %s: not asked for %g s after %d failures",
                name,
                breaker.open_for,
                breaker.failures,
            )
        self._observe_breaker(name, breaker.state)

    def _count(self, name: str, outcome: str, seconds: float) -> None:
        if self.observer is not None:
            self.observer.source_lookup(name, outcome, seconds)

    def _observe_breaker(self, name: str, state: BreakerState) -> None:
        if self.observer is not None:
            self.observer.source_breaker(name, state.value)


async def _read(response: aiohttp.ClientResponse) -> bytes:
    """The answer's body, read up to one byte past `MAX_BODY` (then the caller refuses it)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break
    return b"".join(chunks)


def hmac_signature(secret: str, method: str, url: str, body: bytes, timestamp: int) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256>` over `<t>.<METHOD>.<path?query>.<body>`, as the
    receiving system checks it (docs/sources.md): the time stops replays, the path and
    body tie the signature to this request."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    signed = f"{timestamp}.{method}.{target}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _next_page(response: aiohttp.ClientResponse) -> str:
    """The URL its `Link: <…>; rel="next"` header names ("" if none)."""
    link = response.links.get("next")
    return str(link.get("url", "")) if link is not None else ""


def _same_origin(url: str, base: str) -> bool:
    one, other = urlsplit(url), urlsplit(base)
    return (one.scheme, one.netloc) == (other.scheme, other.netloc)


def _seconds(retry_after: str) -> float | None:
    """Retry-After in seconds (an HTTP date is not worth waiting for on a call: None)."""
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return None


def _fill(template: str, values: Mapping[str, str], *, quoted: bool) -> str:
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", quote(value, safe="") if quoted else value)
    return out


def _fill_json(body: Any, values: Mapping[str, str]) -> Any:
    if isinstance(body, str):
        return _fill(body, values, quoted=False)
    if isinstance(body, dict):
        return {k: _fill_json(v, values) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill_json(v, values) for v in body]
    return body


def _template(request: Request) -> str:
    return f"{request.method} {request.url}"


def _kind(name: str) -> str:
    return name.split(".")[0]
