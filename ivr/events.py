"""What the line tells the company: the kinds of event, their stable ids and their JSON body.

The business code that does something the company's systems must know (a callback asked for,
a return started) names the event here and writes it beside its own record
(`ivr.store.event_outbox.event`); delivering it is someone else's job (`ivr.deliveries`). This
module is plain data at the bottom of the layers, so the settings can check the event names
an operator writes (IVR_EVENTS_URL_<TYPE>) and every layer above can name an event without
knowing how, or whether, it is sent anywhere.

An event's id is derived from its kind and the key of what it is about (the callback's id,
the return's number), so the same fact recorded twice (a retried webhook, a replayed turn) is
one event, and the id doubles as the receiver's idempotency key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum

JsonValue = str | int | float | bool | None | Mapping[str, "JsonValue"]
"""What an event's fields hold: plain values, or a mapping of them (a callback's context)."""


class EventType(StrEnum):
    """Each kind of event the line delivers (the table in docs/events.md)."""

    CALLBACK_REQUESTED = "callback.requested"
    VOICEMAIL_LEFT = "voicemail.left"
    SURVEY_ANSWERED = "survey.answered"
    CONTACT_OPTED_OUT = "contact.opted_out"
    TEXT_SENT = "text.sent"
    RETURN_STARTED = "return.started"

    @property
    def setting(self) -> str:
        """The variable naming this kind's own URL: IVR_EVENTS_URL_RETURN_STARTED."""
        return "IVR_EVENTS_URL_" + self.value.replace(".", "_").upper()


def event_id(kind: EventType, key: str) -> str:
    """The stable id of the event of `kind` about `key` (the same fact, the same id)."""
    digest = hashlib.sha256(f"{kind.value}\0{key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def event_body(ident: str, kind: EventType, created: float, data: Mapping[str, JsonValue]) -> str:
    """The JSON every receiver gets, as it is stored and signed (compact, keys sorted)."""
    return json.dumps(
        {"id": ident, "type": kind.value, "created": round(created, 3), "data": dict(data)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
