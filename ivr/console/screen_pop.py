"""The agent's screen pop: what a caller is about, readable at a glance before *Take*.

The desk used to list every field the flow collected, A to Z ("Eta late 2026-12-04",
"Verified order 4512"): about 450 px a caller, with the order the greeting offered listed
before the repair the caller actually asked about. An agent has seconds, so the pop answers
four questions in this order, in plain words, and folds the rest away:

1. **Who**: the name on file and how the line knows it is them (caller ID or postal code),
   or that it does not.
2. **What they want**: why they came to a person, and the last thing they said in their own
   words.
3. **The one record that matters**, as a sentence: the record the caller looked up *last*
   (the transcript's order of look-ups), e.g. "Repair 3141, espresso machine, waiting for
   parts since 21 Nov, 5 days late"; other records the call touched follow it.
4. **What the line already told them**, so the agent does not repeat it.

Dates are written one way everywhere ("21 Nov", with the year only when it is not this
year's), and "late" is counted from today, so an agent never does date arithmetic. Pure:
the desk's page builds it from a queue entry's context and its call's transcript.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from ivr.session import TranscriptEntry

REASONS = {
    "caller_asked": "Asked for a person",
    "self_service_failed": "The automated line could not help",
    "not_understood": "The automated line did not understand them",
    "system_error": "Handed over after a fault on our side",
    "guide_not_solved": "A troubleshooting guide did not fix it",
}
STATUSES = {
    "received": "received",
    "processing": "being prepared",
    "shipped": "shipped",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "returned": "returned",
    "diagnosing": "being diagnosed",
    "waiting_for_parts": "waiting for parts",
    "repairing": "being repaired",
    "ready_for_pickup": "ready for pickup",
    "shipped_back": "shipped back",
    "closed": "closed",
}
LABELS = {
    "guide_outcome": "Guide tried (step and answer)",
    "customer_name": "Name",
    "first_name": "First name",
    "order_number": "Order",
    "verified_order": "Verified for order",
    "order_status": "Order status",
    "carrier": "Carrier",
    "tracking_number": "Tracking number",
    "placed_on": "Placed",
    "ship_date": "Ship date",
    "eta": "Expected",
    "eta_due": "Due",
    "eta_late": "Was due (late)",
    "ship_due": "Ships by",
    "ship_late": "Was to ship (late)",
    "late": "Late",
    "ticket_number": "Repair",
    "repair_product": "Product",
    "repair_status": "Repair status",
    "repair_updated_on": "Repair status since",
    "repair_eta": "Repair expected",
    "repair_due": "Repair due",
    "repair_late": "Repair was due (late)",
    "serial_number": "Serial number",
    "warranty_product": "Product",
    "warranty_plan": "Warranty plan",
    "warranty_purchased_on": "Bought",
    "warranty_expires_on": "Warranty ends",
    "verified": "Verified",
    "language": "Speaks",
}
LANGUAGES = {"en": "English", "de": "German", "sv": "Swedish"}
_LOOKUPS = {
    "find_repair": "repair",
    "find_order": "order",
    "check_postal_code": "order",
    "find_warranty": "warranty",
}


@dataclass(frozen=True, slots=True)
class ScreenPop:
    who: str
    """The name on file, or "Name not known"."""
    verified: str
    """How the line knows who it is: "Verified by caller ID", "…by postal code", "Not verified"."""
    wants: str
    """Why they came to a person, in words."""
    said: str = ""
    """The last thing they said in their own words (empty if they only pressed keys)."""
    facts: list[str] = field(default_factory=list)
    """One sentence per record, the one they asked about last first."""
    told: str = ""
    """What the line said last before the caller asked for a person."""
    details: list[tuple[str, str]] = field(default_factory=list)
    """Everything else the flow collected, labelled, dates written the one way (folded away)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def day(value: str, today: date) -> str:
    """An ISO date as the desk writes every date: "21 Nov", or "21 Nov 2025" in another year."""
    try:
        when = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{when.day} {when:%b}" + ("" if when.year == today.year else f" {when.year}")


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def _timing(due: str, late: str, today: date) -> str:
    """ ", due 2 Dec" or ", 5 days late (due 2 Dec)", from the flow's `_due`/`_late` pair."""
    if late:
        try:
            behind = (today - date.fromisoformat(late)).days
        except ValueError:
            return f", late (due {late})"
        return (
            f", {_days(behind)} late (due {day(late, today)})" if behind > 0 else f", due {day(late, today)}"
        )
    return f", due {day(due, today)}" if due else ""


def _repair(context: Mapping[str, str], today: date) -> str:
    text = f"Repair {context['ticket_number']}"
    if product := context.get("repair_product"):
        text += f", {product}"
    if status := context.get("repair_status"):
        text += f", {STATUSES.get(status, status.replace('_', ' '))}"
        if since := context.get("repair_updated_on"):
            text += f" since {day(since, today)}"
    return text + _timing(context.get("repair_due", ""), context.get("repair_late", ""), today)


def _order(context: Mapping[str, str], today: date) -> str:
    text = f"Order {context['order_number']}"
    if status := context.get("order_status"):
        text += f", {STATUSES.get(status, status.replace('_', ' '))}"
        if carrier := context.get("carrier"):
            text += f" with {carrier}"
        if status == "shipped" and (shipped := context.get("ship_date")):
            text += f" on {day(shipped, today)}"
    return text + _timing(context.get("eta_due", ""), context.get("eta_late", ""), today)


def _warranty(context: Mapping[str, str], today: date) -> str:
    text = f"Serial {context['serial_number']}"
    if product := context.get("warranty_product"):
        text += f", {product}"
    if plan := context.get("warranty_plan"):
        text += f", {plan} warranty"
    if ends := context.get("warranty_expires_on"):
        ended = date.fromisoformat(ends) < today if len(ends) == 10 else False
        text += f", {'ended' if ended else 'until'} {day(ends, today)}"
    return text


_RECORDS = {
    "repair": ("ticket_number", _repair),
    "order": ("order_number", _order),
    "warranty": ("serial_number", _warranty),
}


def _looked_up_last(transcript: Sequence[TranscriptEntry]) -> list[str]:
    """Record kinds in the order the call last looked them up, the latest first."""
    order: list[str] = []
    for entry in reversed(transcript):
        if entry.who == "flow":
            kind = _LOOKUPS.get(entry.text.split(":", 1)[0])
            if kind and kind not in order:
                order.append(kind)
    return order


def _verified(context: Mapping[str, str], transcript: Sequence[TranscriptEntry]) -> str:
    if context.get("verified") != "yes":
        return "Not verified"
    if any(e.who == "flow" and e.text == "check_postal_code: verified" for e in transcript):
        return "Verified by postal code"
    return "Verified by caller ID"


def _said(transcript: Sequence[TranscriptEntry]) -> str:
    """The caller's last words that say something (the transcript writes speech as `said '…'`;
    a one-word "yes" or "no" to a menu says nothing an agent can use)."""
    for entry in reversed(transcript):
        if entry.who == "caller" and entry.text.startswith("said '") and entry.text.endswith("'"):
            words = entry.text[len("said '") : -1]
            if len(words.split()) > 1:
                return words
    return ""


def _told(transcript: Sequence[TranscriptEntry], number: str) -> str:
    """What the line last said about the record that matters (its number, as written or as
    spoken digit by digit): the answer the caller already heard, not the menu after it."""
    if not number:
        return ""
    spoken = " ".join(number)
    for entry in reversed(transcript):
        if entry.who == "bot" and (number in entry.text or spoken in entry.text):
            return entry.text.strip()
    return ""


def screen_pop(
    context: Mapping[str, str], reason: str, transcript: Sequence[TranscriptEntry], today: date
) -> ScreenPop:
    """The pop for one caller (queued, a callback or a voicemail)."""
    kinds = _looked_up_last(transcript)
    kinds += [k for k in ("repair", "order", "warranty") if k not in kinds]
    present = [k for k in kinds if context.get(_RECORDS[k][0])]
    facts = [_RECORDS[k][1](context, today) for k in present]
    focus = context.get(_RECORDS[present[0]][0], "") if present else ""
    shown = {"customer_name", "first_name", "verified"}
    details = [
        (LABELS.get(key, key.replace("_", " ").capitalize()), _value(key, value, today))
        for key, value in context.items()
        if value and key not in shown
    ]
    wants = REASONS.get(reason, reason.replace("_", " ").capitalize())
    if language := context.get("language"):
        wants += f" · speaks {LANGUAGES.get(language, language)}"
    return ScreenPop(
        who=context.get("customer_name") or context.get("first_name") or "Name not known",
        verified=_verified(context, transcript),
        wants=wants,
        said=_said(transcript),
        facts=facts,
        told=_told(transcript, focus),
        details=details,
    )


def _value(key: str, value: str, today: date) -> str:
    if key in ("order_status", "repair_status"):
        return STATUSES.get(value, value.replace("_", " "))
    if key == "language":
        return LANGUAGES.get(value, value)
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        return day(value, today)
    return value
