"""The app's typed state (`web.AppKey`): what handlers and parts of the line find on the app.

One module for every key, imported by whoever sets or reads one, so a key is never defined twice
and the composition root stays a list of parts."""

from __future__ import annotations

import weakref

from aiohttp import web

from ivr.deliveries import Deliverer
from ivr.forwarded import IPNetwork
from ivr.line import SupportLine
from ivr.mediastream.admission import StreamAdmission
from ivr.mediastream.call import StreamSpeech
from ivr.metrics import Metrics
from ivr.speech.cache import PromptAudioCache
from ivr.store.backends import Stores
from ivr.versions.store import FlowStore
from ivr.webhooks import SignatureCheck

LINE = web.AppKey("line", SupportLine)


AUDIO = web.AppKey("audio", PromptAudioCache)


STREAM_SIGNATURE = web.AppKey("stream_signature", SignatureCheck)


ADMISSION = web.AppKey("stream_admission", StreamAdmission[web.WebSocketResponse])


PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("proxies")


STREAM_SPEECH = web.AppKey("stream_speech", StreamSpeech)


STREAMS = web.AppKey("streams", weakref.WeakSet[web.WebSocketResponse])


METRICS = web.AppKey("metrics", Metrics)


STORES = web.AppKey("stores", Stores)


CONSOLE = web.AppKey("console", web.Application)


FLOWS = web.AppKey("flows", FlowStore)
"""The flow lifecycle (drafts, publish, rollback); publishing through it reaches new calls at once."""


DELIVERER = web.AppKey("deliverer", Deliverer)
"""This instance's worker sending the outbox's events to the company (`ivr.deliveries`)."""
