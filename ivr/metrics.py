"""Prometheus metrics for one server process, served at `GET /metrics`.

Every number here is per process. Scrape every instance and aggregate in Prometheus:

- calls in progress: a call's webhooks can reach any instance, so no single process
  knows how many calls are live. Expose counters instead and let the dashboard compute
  `sum(ivr_calls_started_total) - sum(ivr_calls_ended_total)` (approximate: a restart
  resets a process's counters, and a call whose final status never arrives stays "live");
- `ivr_media_streams`: live media-stream websockets in this process. A stream is pinned
  to one process, so `sum(ivr_media_streams)` is exact for local-speech calls;
- containment: `sum(rate(ivr_calls_ended_total{outcome="resolved"}[1h]))
  / sum(rate(ivr_calls_ended_total[1h]))`;
- `ivr_errors_total{code}`: every WARNING or ERROR record from the `ivr` loggers
  (`ivr.speech` included) whose message starts with a stable code (`webhook_failed: ...`,
  `signature_invalid: ...`, `stream_failed: ...`, `tts_...: ...`), counted by
  `ErrorCounter`. Records below the configured log level are never created, so with
  `--log-level ERROR` warnings such as `signature_invalid` are not counted.

Lookups in outside systems (IVR_SOURCES, `ivr.sources.client`), per source (`orders`,
`customers.orders`...): `ivr_source_lookups_total{source,outcome}` (found, not_found, cached,
error, timeout, open: refused at once by an open breaker), `ivr_source_seconds{source}` (the
time each request to the system took, failures included; answers from the cache or refused by
an open breaker asked nobody and are not in it: p50 and p99 with `histogram_quantile`) and
`ivr_source_breaker{source}` (0 closed, 1 half-open, 2 open).

`ivr_asr_seconds` times local recognition in `ivr/mediastream/call.py`: from the end of
the caller's speech to its transcript, the wait recognition adds to a turn.
`ivr_tts_seconds` times real synthesis (cache misses) through `TimedSynthesizer`.

The hot path (one observation per webhook) uses label children resolved once, so a
turn pays a counter increment and a histogram observation, a few microseconds.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ivr.logs import error_code
from ivr.speech.tts import Synthesizer

CONTENT_TYPE = CONTENT_TYPE_LATEST
WEBHOOK_KINDS = ("answer", "turn", "status", "stream_ended")
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SOURCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
SPEECH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
ERROR_LOGGERS = ("ivr",)
"""Loggers whose coded warnings and errors are counted (their children included: ivr.speech too)."""


class Metrics:
    """The line's metrics, in a registry of their own (one per application)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_started = Counter(
            "ivr_calls_started", "Calls this process answered first (a new CallSid).", registry=r
        )
        self.calls_ended = Counter(
            "ivr_calls_ended",
            "Calls this process filed as ended, by outcome (resolved, no_input, transferred, "
            "abandoned, agents_unavailable, ...). Containment = resolved / all.",
            ["outcome"],
            registry=r,
        )
        self.turns = Counter("ivr_turns", "Voice webhooks handled, by kind.", ["kind"], registry=r)
        self.turn_seconds = Histogram(
            "ivr_turn_seconds",
            "Time to answer a voice webhook, by kind.",
            ["kind"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.handoffs = Counter("ivr_handoffs", "Hand-offs to a person, by reason.", ["reason"], registry=r)
        self.errors = Counter(
            "ivr_errors", "Coded warnings and errors logged, by code.", ["code"], registry=r
        )
        self.asr_seconds = Histogram(
            "ivr_asr_seconds",
            "Time to recognise an utterance after the caller stopped (local speech).",
            buckets=SPEECH_BUCKETS,
            registry=r,
        )
        self.tts_seconds = Histogram(
            "ivr_tts_seconds",
            "Time to synthesise a prompt that was not cached.",
            buckets=SPEECH_BUCKETS,
            registry=r,
        )
        self.media_streams = Gauge(
            "ivr_media_streams", "Media-stream websockets open in this process.", registry=r
        )
        self.source_lookups = Counter(
            "ivr_source_lookups",
            "Lookups in outside systems, by source and outcome (found, not_found, cached, error, "
            "timeout, open).",
            ["source", "outcome"],
            registry=r,
        )
        self.source_seconds = Histogram(
            "ivr_source_seconds",
            "Time a lookup in an outside system took, failures included, by source.",
            ["source"],
            buckets=SOURCE_BUCKETS,
            registry=r,
        )
        self.source_breaker_state = Gauge(
            "ivr_source_breaker",
            "Each source's circuit breaker: 0 closed, 1 half-open (one lookup tries), 2 open.",
            ["source"],
            registry=r,
        )
        self._webhooks: dict[str, tuple[Counter, Histogram]] = {
            kind: (self.turns.labels(kind), self.turn_seconds.labels(kind)) for kind in WEBHOOK_KINDS
        }

    def webhook(self, kind: str, seconds: float) -> None:
        """A voice webhook of `kind` (one of `WEBHOOK_KINDS`) took `seconds`."""
        count, latency = self._webhooks[kind]
        count.inc()
        latency.observe(seconds)

    def timed(self, kind: str) -> WebhookTimer:
        """`with metrics.timed("turn"):` observes the block as one webhook of that kind."""
        return WebhookTimer(self, kind)

    def call_started(self) -> None:
        self.calls_started.inc()

    def call_ended(self, outcome: str) -> None:
        self.calls_ended.labels(outcome or "unknown").inc()

    def handoff(self, reason: str) -> None:
        self.handoffs.labels(reason or "unknown").inc()

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def source_lookup(self, source: str, outcome: str, seconds: float) -> None:
        """One lookup in an outside system (`ivr.sources.client.SourceObserver`)."""
        self.source_lookups.labels(source, outcome).inc()
        if outcome not in ("cached", "open"):  # neither asked the system
            self.source_seconds.labels(source).observe(seconds)

    def source_breaker(self, source: str, state: str) -> None:
        self.source_breaker_state.labels(source).set(BREAKER_STATES.get(state, 0))

    def asr(self, seconds: float) -> None:
        self.asr_seconds.observe(seconds)

    def tts(self, seconds: float) -> None:
        self.tts_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class WebhookTimer:
    """Times one webhook (see `Metrics.timed`); a class, not a generator, to stay cheap."""

    __slots__ = ("kind", "metrics", "start")

    def __init__(self, metrics: Metrics, kind: str) -> None:
        self.metrics = metrics
        self.kind = kind
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.metrics.webhook(self.kind, time.perf_counter() - self.start)


class ErrorCounter(logging.Handler):
    """Counts coded WARNING+ records in `Metrics.errors`: one path from codes to metrics.

    Attach with `install()` and detach with `uninstall()` (the app does both around its
    lifetime). Codes logged by modules this package does not own (the signature
    middleware, media streams, speech) are counted without touching them.
    """

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        try:
            code = error_code(record.getMessage())
        except (TypeError, ValueError):  # a malformed record: the log handler reports it
            return
        if code is not None:
            self.metrics.error(code)

    def install(self) -> None:
        for name in ERROR_LOGGERS:
            logging.getLogger(name).addHandler(self)

    def uninstall(self) -> None:
        for name in ERROR_LOGGERS:
            logging.getLogger(name).removeHandler(self)


class TimedSynthesizer:
    """A `Synthesizer` that records how long each synthesis takes (failures included)."""

    def __init__(self, inner: Synthesizer, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def voice_key(self) -> str:
        return self.inner.voice_key

    async def synthesize(self, text: str) -> bytes:
        start = time.perf_counter()
        try:
            return await self.inner.synthesize(text)
        finally:
            self.metrics.tts(time.perf_counter() - start)
