"""Deliveries: the outbox's events POSTed to the company's endpoints, signed, retried, never twice.

Every instance runs one `Deliverer` (a lifecycle of the app). It claims due events from the
outbox (`ivr.store.event_outbox`) with a lease, so several instances send each event once,
and POSTs each as JSON to the URL its kind is configured for (IVR_EVENTS_URL_<TYPE>, else
IVR_EVENTS_URL), with:

- `Ivr-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under IVR_EVENTS_SECRET,
  as Stripe signs its webhooks: the receiver checks the body and refuses an old timestamp;
- `Idempotency-Key: <event id>` (the id in the body too): the same event sent again, after an
  answer that was lost on the way back, is recognised and taken once.

A 2xx answer delivers it. Anything else (another status, a timeout, a refused connection) is
retried with exponential backoff and jitter (30 s doubling to an hour, each wait between half
and all of that) until a day after the event was written; then it is a dead letter the console
lists and a supervisor may send again. Delivery is at least once: an instance that dies after
the receiver took an event but before writing so leaves a lease that runs out, and the next
attempt carries the same idempotency key.

The clock and the jitter are injected, so tests run a day of retries in no real time. Nothing
slow runs on the event loop: the HTTP is aiohttp's, the database the store's, and signing a
small body is microseconds. Bodies hold customers' numbers, so logs name events by id and kind only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from ivr.config import Settings
from ivr.events import EventType
from ivr.store.event_outbox import KEEP_DELIVERED, EventOutbox, OutboxEvent, worker_name

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Ivr-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TYPE_HEADER = "Ivr-Event-Type"

FIRST_RETRY = 30.0
"""Seconds before the second attempt (at most; jitter takes up to half off)."""
MAX_RETRY = 3600.0
"""The longest wait between two attempts."""
ATTEMPT_TIMEOUT = 10.0
"""Seconds one POST may take, connecting included, before it counts as failed."""
LEASE = 60.0
"""Seconds a claimed batch belongs to one instance: well over a batch's attempts (they run
together, each within `ATTEMPT_TIMEOUT`), so no other instance sends them meanwhile."""
BATCH = 20
"""Events claimed, and sent concurrently, at a time."""
POLL_EVERY = 5.0
"""Seconds between two looks for due events (what an event waits at most when all is well)."""
PURGE_EVERY = 3600.0
"""Seconds between purges of events delivered over a week ago."""


def signature(secret: str, timestamp: int, body: str) -> str:
    """The `Ivr-Signature` header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempts: int, rand: Callable[[], float]) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: doubling, capped, with jitter."""
    ceiling = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)
    return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True, slots=True)
class Destinations:
    """Where each kind of event goes, and the secret that signs them (the line's settings)."""

    default: str = ""
    """IVR_EVENTS_URL: every kind without its own URL; "" for none."""
    by_type: Mapping[EventType, str] = field(default_factory=dict)
    """IVR_EVENTS_URL_<TYPE>: a kind's own URL (instead of the default)."""
    secret: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Destinations:
        return cls(
            settings.events_url,
            {EventType(kind): url for kind, url in settings.events_urls.items()},
            settings.events_secret,
        )

    def url_for(self, kind: EventType) -> str:
        return self.by_type.get(kind, self.default)


class Deliverer:
    """One instance's delivery worker: claim due events, POST them, record what happened."""

    def __init__(
        self,
        outbox: EventOutbox,
        destinations: Destinations,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        timeout: float = ATTEMPT_TIMEOUT,
    ) -> None:
        self.outbox = outbox
        self.destinations = destinations
        self.clock = clock
        self.rand = rand
        self.timeout = timeout
        self.worker = worker_name()
        self._session: aiohttp.ClientSession | None = None
        self._purged_at = 0.0

    async def open(self) -> None:
        """One client session for every attempt (connections reused); inside the running loop."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "ivr-events/1", "Content-Type": "application/json"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver_due(self) -> int:
        """Send every event due now, batch by batch; returns how many were delivered."""
        delivered = 0
        while True:
            batch = await self.outbox.claim(self.worker, self.clock(), LEASE, BATCH)
            results = await asyncio.gather(*(self._attempt(item) for item in batch))
            delivered += sum(results)
            if len(batch) < BATCH:
                return delivered

    async def _attempt(self, item: OutboxEvent) -> bool:
        url = self.destinations.url_for(item.type)
        if not url:  # nobody takes this kind (now): let go, and kept a week like a delivered one
            await self.outbox.skipped(item.id, self.worker, self.clock())
            return False
        error = await self._post(url, item)
        now = self.clock()
        if error is None:
            await self.outbox.delivered(item.id, self.worker, now)
            log.info("event_delivered: %s %s (attempt %d)", item.type.value, item.id, item.attempts + 1)
            return True
        next_at = now + backoff(item.attempts + 1, self.rand)
        if next_at > item.give_up_at:
            await self.outbox.dead(item.id, self.worker, now, error)
            log.error(
                "event_dead_letter: %s %s after %d attempts: %s",
                item.type.value,
                item.id,
                item.attempts + 1,
                error,
            )
        else:
            await self.outbox.failed(item.id, self.worker, next_at, error)
            log.warning(
                "event_retry: %s %s: %s; next in %.0f s", item.type.value, item.id, error, next_at - now
            )
        return False

    async def _post(self, url: str, item: OutboxEvent) -> str | None:
        """POST one event; None when the endpoint took it, else why not (for the console)."""
        if self._session is None:
            raise RuntimeError("Deliverer.open() first")
        headers = {
            SIGNATURE_HEADER: signature(self.destinations.secret, int(self.clock()), item.body),
            IDEMPOTENCY_HEADER: item.id,
            TYPE_HEADER: item.type.value,
        }
        try:
            async with self._session.post(url, data=item.body.encode(), headers=headers) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return None
                return f"HTTP {answer.status}"
        except TimeoutError:
            return f"timed out after {self.timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            return f"cannot connect: {exc.os_error.strerror or exc}"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"

    async def purge(self) -> None:
        """Forget delivered events older than a week, at most once an hour."""
        now = self.clock()
        if now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            await self.outbox.purge_delivered(now - KEEP_DELIVERED)

    async def run(self, every: float = POLL_EVERY) -> None:
        """Deliver until cancelled; a database that fails is tried again at the next round."""
        while True:
            try:
                await self.deliver_due()
                await self.purge()
            except Exception as exc:  # the database down: leases run out, nothing is lost
                log.warning("event_delivery_failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(every)
