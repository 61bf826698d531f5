"""The service's own flow actions: the only code a flow file can name.

A flow says `action: find_order`; the loader resolves that name against this
allow-list and nothing else. (`transitions` will import any dotted path it is given
as a string callback, so flow text must never reach it as a callback name.)

Personal data enters the call's variables only inside an action that has verified
the caller, so no flow, however it is edited, can read an order to a stranger.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from ivr.config import REPAIR_OPTIONS
from ivr.flow import guide_walk
from ivr.flow.guides import LONG_GUIDE_STEPS, Guide, GuideBook
from ivr.importer import normalise_postal
from ivr.records import Order, OrderStatus, Repair, RepairStatus, product_in
from ivr.session import CallSession
from ivr.speakable import WEEK_AHEAD
from ivr.store.base import Repository, SourceUnavailable, answered_by
from ivr.store.repair_bookings import (
    AlreadyBooked,
    DayPart,
    Product,
    RepairBookings,
    RepairOption,
    Slot,
    SlotTaken,
)
from ivr.store.returns import ReturnReason, Returns


class Outreach(Protocol):
    """What the outbound flows' actions do beyond the call (`ivr.outreach.service.Outreach` implements it).

    The flow layer names the seam; the campaigns package implements it. Each method finds
    the campaign attempt through the call's variables, and returns False when the call is
    not one of its outbound calls (a test phone, a misrouted flow) or the effect failed."""

    async def record_score(self, session: CallSession, score: int) -> bool: ...

    async def send_review_text(self, session: CallSession) -> bool: ...

    async def request_callback(self, session: CallSession) -> bool: ...

    async def opt_out(self, session: CallSession) -> bool: ...


@dataclass(frozen=True, slots=True)
class Pickup:
    """Where and how long ready repairs wait for their owners (the line's settings)."""

    location: str = ""
    """As said to callers: "our service centre at 200 Main Street"; empty: not said."""
    days: int = 14
    """A ready repair is kept this many days after it became ready (its `updated_on`)."""
    open_on: Callable[[date], bool] = lambda _: True
    """Whether the line (and its counter) is open on a day: the last day to collect is an open one."""

    def last_day(self, ready_on: date) -> date:
        """The last open day on or before the end of the keeping time (never before `ready_on`)."""
        last = ready_on + timedelta(days=self.days)
        while last > ready_on and not self.open_on(last):
            last -= timedelta(days=1)
        return last


@dataclass(frozen=True, slots=True)
class ReturnWindow:
    """How long after delivery a product may be sent back (the line's settings), per market.

    A market is a language here (the line's numbers are per language): a market whose law
    gives another window (Germany's and Sweden's 14-day withdrawal right is one more rule,
    not this setting) gets its own number without a code change."""

    days: int = 30
    by_language: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, language: str) -> int:
        return self.by_language.get(language, self.days)


class TextMessages(Protocol):
    """Texts (SMS) the line sends a caller: Twilio's Messaging API, when the line has its
    REST credentials (`ivr.telephony`)."""

    async def send(self, to: str, body: str) -> str:
        """Send `body` to `to`; returns the message's id. Raises on any failure."""
        ...


@dataclass(frozen=True, slots=True)
class ActionContext:
    session: CallSession
    repository: Repository
    today: date
    pickup: Pickup = Pickup()
    texts: TextMessages | None = None
    """None: the line cannot send texts, and no flow offers one."""
    render: Callable[[str], str] = lambda prompt_id: ""
    """A prompt of the call's language filled with the call's values ("" if there is none)."""
    note: Callable[[str], None] = lambda text: None
    """Adds a line to the call record's transcript (what the line did, for `ivr calls show`)."""
    outreach: Outreach | None = None
    """Set on the lines that run outbound flows; None on the inbound line."""
    language: str = ""
    """The call's language when it is not the line's default ('' when it is): which name of a
    product the caller hears (`ivr.records.product_in`)."""
    returns: Returns | None = None
    """Where returns are filed; None (a test phone, an outbound line): no return is started."""
    return_window: ReturnWindow = ReturnWindow()
    guides: GuideBook = field(default_factory=GuideBook)
    """The troubleshooting guides (guides/*.yaml); empty: no guide is found."""
    said: str = ""
    """The caller's last answer: their words, or the words of the menu option they keyed."""
    repairs: RepairBookings | None = None
    """Where repairs are booked and the slot calendar is; None: no repair is booked."""
    repair_options: tuple[str, ...] = REPAIR_OPTIONS
    """How a booked repair may reach a technician (IVR_REPAIR_OPTIONS), as offered to callers."""


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    reads: tuple[str, ...]
    """Call variables the action needs (set by earlier gathers)."""
    outcomes: frozenset[str]
    """Every outcome the action can return; a flow must route each one."""
    run: Callable[[ActionContext], Awaitable[str]]


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


log = logging.getLogger(__name__)

RELEASED_ORDER_FIELDS = (
    "verified_order",
    "customer_name",
    "order_status",
    "carrier",
    "tracking_number",
    "placed_on",
    "ship_date",
    "eta",
    "eta_due",
    "eta_late",
    "ship_due",
    "ship_late",
    "late",
)
MAX_LOOKUPS_PER_CALL = 5
"""Order, repair and warranty numbers one call may look up; a person needs far fewer."""
MAX_LOOKUPS_PER_DAY = 20
"""Look-ups one caller number may make in a day that its caller ID did not verify, over all
its calls and every instance."""
MAX_POSTAL_TRIES = 5
"""Wrong postal codes one caller number may key in a day before keypad verification stops
answering (even the right code): counted in the store, so calling again does not reset it."""
LOOKUPS = "lookups"
"""The count (in the call's `attempts` and in the store) that look-up limits are kept in."""
POSTAL_FAILURES = "postal_failures"
"""The store's count of wrong postal codes per caller number and day."""
LIMIT_REACHED = "limit_reached"
UNAVAILABLE = "unavailable"
"""The outcome of a look-up whose outside system did not answer (`SourceUnavailable`): the
caller hears so and is offered an agent. Flows written before it existed send it to the agent."""
UNAVAILABLE_SOURCE = "unavailable_source"
"""The call variable naming what could not be read (`orders`, `repairs`, `warranties`), for the
prompt that says so and for the agent the caller is handed to."""
DEFAULTED_OUTCOMES = frozenset({LIMIT_REACHED, UNAVAILABLE})
"""Outcomes added after flows were first written: unrouted, they go to the flow's agent."""
RETIRED_OUTCOMES: dict[str, frozenset[str]] = {"find_order": frozenset({"not_found"})}
"""Outcomes an action no longer returns. Flows written for an earlier release still route
them; they load (with a warning), so an upgrade never stops the line until a flow is edited."""
"""The outcome every look-up returns once a limit is reached; flows hand the caller to a person."""
_KEYPAD = {
    letter: digit
    for digit, letters in {
        "2": "ABC",
        "3": "DEF",
        "4": "GHI",
        "5": "JKL",
        "6": "MNO",
        "7": "PQRS",
        "8": "TUV",
        "9": "WXYZ",
    }.items()
    for letter in letters
}


def keypad_digits(text: str) -> str:
    """What a caller keys for a postal code: letters become the key that shows them."""
    return "".join(ch if ch in "0123456789" else _KEYPAD.get(ch, "") for ch in normalise_postal(text))


def _same_keys(keyed: str, expected: str) -> bool:
    """Constant-time equality of two key strings; non-ASCII input (which no keypad sends)
    never matches, where `hmac.compare_digest` on `str` would raise `TypeError`."""
    if not (keyed.isascii() and expected.isascii()):
        return False
    return hmac.compare_digest(keyed.encode(), expected.encode())


PENDING_ORDER = frozenset(
    {OrderStatus.RECEIVED, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY}
)
"""Orders still on their way: a delivery date in the past means they are late."""
UNSHIPPED_ORDER = frozenset({OrderStatus.RECEIVED, OrderStatus.PROCESSING})
PENDING_REPAIR = frozenset(
    {
        RepairStatus.RECEIVED,
        RepairStatus.DIAGNOSING,
        RepairStatus.WAITING_FOR_PARTS,
        RepairStatus.REPAIRING,
        RepairStatus.SHIPPED_BACK,
    }
)
"""Repairs not yet back with the customer: an expected date in the past means they are late."""


def _due_or_late(prefix: str, when: date | None, pending: bool, today: date) -> dict[str, str]:
    """Split a date the caller is waiting for into `<prefix>_due` (today or ahead) and
    `<prefix>_late` (passed while still pending), so a prompt can say "should arrive
    tomorrow" or, honestly, "is running late: it was due on November 23", never a past
    date as if it were ahead."""
    if when is None or not pending:
        return {f"{prefix}_due": "", f"{prefix}_late": ""}
    late = when < today
    return {
        f"{prefix}_due": "" if late else when.isoformat(),
        f"{prefix}_late": when.isoformat() if late else "",
    }


def _set_or_clear(ctx: ActionContext, values: Mapping[str, str]) -> None:
    """Set the non-empty values and drop the empty ones: nothing of an earlier look-up stays,
    and what an agent sees of the call holds only what is known."""
    for name, value in values.items():
        if value:
            ctx.session.vars[name] = value
        else:
            ctx.session.vars.pop(name, None)


def _release_order(ctx: ActionContext, order: Order) -> None:
    """Copy an order's details into the call, after verification only."""
    timing = _due_or_late("eta", order.eta, order.status in PENDING_ORDER, ctx.today)
    timing |= _due_or_late("ship", order.ship_date, order.status in UNSHIPPED_ORDER, ctx.today)
    timing["late"] = "yes" if timing["eta_late"] or timing["ship_late"] else ""
    _set_or_clear(ctx, timing)
    ctx.session.vars.update(
        verified_order=order.order_number,
        customer_name=order.customer_name,
        order_status=order.status.value,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        placed_on=_iso(order.placed_on),
        ship_date=_iso(order.ship_date),
        eta=_iso(order.eta),
    )


def _same_phone(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    return bool(a) and a.startswith("+") and _same_keys(a, b)


async def _may_look_up(ctx: ActionContext) -> bool:
    """Count one look-up against the call; False once the call or the caller number is over.

    Without a limit one call can try number after number and learn which exist, and a
    second call would start afresh, so the day's count lives in the store. Only look-ups
    that the caller ID did not verify add to it (`_count_for_number`): a customer checking
    their own orders, or a business line calling about its own, is never turned away."""
    done = ctx.session.attempts.get(LOOKUPS, 0)
    if done >= MAX_LOOKUPS_PER_CALL:
        return False
    ctx.session.attempts[LOOKUPS] = done + 1
    return await ctx.repository.count(ctx.session.caller, LOOKUPS, ctx.today, add=0) < MAX_LOOKUPS_PER_DAY


async def _count_for_number(ctx: ActionContext) -> None:
    """A look-up the caller ID did not verify: one more towards the number's daily limit."""
    await ctx.repository.count(ctx.session.caller, LOOKUPS, ctx.today)


def _unavailable(ctx: ActionContext, exc: SourceUnavailable, *, counted: bool = True) -> str:
    """The system did not answer: the call record says which and why, and a look-up `counted`
    against the call is given back (it was not the caller's to fail)."""
    if counted:
        ctx.session.attempts[LOOKUPS] = max(0, ctx.session.attempts.get(LOOKUPS, 1) - 1)
    ctx.session.vars[UNAVAILABLE_SOURCE] = exc.source
    ctx.note(f"source unavailable: {exc}")
    return UNAVAILABLE


def _answered(ctx: ActionContext, kind: str) -> None:
    """The call record says which source answered a lookup (the local tables, or a sources
    file's system): what an agent or supervisor reading the call needs to trust its facts."""
    ctx.note(f"{kind} looked up: answered by {answered_by(ctx.repository, kind)}")


async def find_order(ctx: ActionContext) -> str:
    """Release an order to the phone on file; ask anyone else for its postal code.

    A caller whose number is not on the order is asked for the postal code whether the
    order exists or not, and hears the same "don't match" either way: otherwise "please
    key in the postal code" against "couldn't find" tells a stranger which orders exist."""
    for name in RELEASED_ORDER_FIELDS:  # a new number: nothing of an earlier order carries over
        ctx.session.vars.pop(name, None)
    if not await _may_look_up(ctx):
        return LIMIT_REACHED
    try:
        order = await ctx.repository.order(ctx.session.vars.get("order_number", ""))
    except SourceUnavailable as exc:
        return _unavailable(ctx, exc)
    _answered(ctx, "orders")
    if order is not None and _same_phone(ctx.session.caller, order.phone):
        _release_order(ctx, order)
        return "verified"
    await _count_for_number(ctx)
    return "needs_verification"


async def check_postal_code(ctx: ActionContext) -> str:
    keyed = ctx.session.vars.pop("postal_code", "")
    caller = ctx.session.caller
    if await ctx.repository.count(caller, POSTAL_FAILURES, ctx.today, add=0) >= MAX_POSTAL_TRIES:
        return LIMIT_REACHED  # no more guessing from this number today, not even the right code
    try:
        order = await ctx.repository.order(ctx.session.vars.get("order_number", ""))
    except SourceUnavailable as exc:  # not a wrong code: nothing is counted against the caller
        return _unavailable(ctx, exc, counted=False)
    _answered(ctx, "orders")
    if order is not None and keyed and _same_keys(keyed, keypad_digits(order.postal_code)):
        _release_order(ctx, order)
        return "verified"
    if await ctx.repository.count(caller, POSTAL_FAILURES, ctx.today) >= MAX_POSTAL_TRIES:
        return LIMIT_REACHED  # that was the last try: say so now, not after another code
    return "mismatch"


def _release_repair(ctx: ActionContext, repair: Repair, owner: bool) -> None:
    ctx.session.vars.update(
        repair_product=product_in(repair.product, repair.product_names, ctx.language) if owner else "",
        repair_status=repair.status.value,
        repair_updated_on=_iso(repair.updated_on),
        repair_eta=_iso(repair.eta),
    )
    _set_or_clear(ctx, _due_or_late("repair", repair.eta, repair.status in PENDING_REPAIR, ctx.today))
    ready = repair.status is RepairStatus.READY_FOR_PICKUP
    until = ctx.pickup.last_day(repair.updated_on) if ready and repair.updated_on else None
    _set_or_clear(
        ctx,
        {
            "pickup_location": ctx.pickup.location if ready else "",
            "pickup_until": until.isoformat() if until and until >= ctx.today else "",
        },
    )


async def find_repair(ctx: ActionContext) -> str:
    if not await _may_look_up(ctx):
        return LIMIT_REACHED
    try:
        repair = await ctx.repository.repair(ctx.session.vars.get("ticket_number", ""))
    except SourceUnavailable as exc:
        return _unavailable(ctx, exc)
    _answered(ctx, "repairs")
    # A ticket number alone gets the status; what the product is, only to the phone on file.
    owner = repair is not None and _same_phone(ctx.session.caller, repair.phone)
    if not owner:
        await _count_for_number(ctx)
    if repair is None:
        return "not_found"
    _release_repair(ctx, repair, owner)
    return "found"


OPEN_ORDERS = frozenset(
    {OrderStatus.RECEIVED, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY}
)
"""Orders a caller may well be calling about: not yet delivered, cancelled or returned."""


async def find_caller(ctx: ActionContext) -> str:
    """Greet a caller by caller ID with the order (or repair) they most likely call about.

    The phone on file is the same verification `find_order` accepts, so what it releases
    is what that caller would hear after keying the number. Open orders come first, the
    most recently placed first; then open repairs, the most recently updated first.
    Outcomes: `order` (one open order or repair), `several` (more than one: the first is
    offered, with a way to another), `repair` (only repairs are open) or `unknown`."""
    caller = ctx.session.caller.strip()
    if not caller.startswith("+"):  # withheld or anonymous: nothing is on file for it
        return "unknown"
    # Both at once: the caller waits for the slower, not for the sum of the two.
    found_orders, found_repairs = await asyncio.gather(
        ctx.repository.orders_of(caller), ctx.repository.repairs_of(caller), return_exceptions=True
    )
    for failed in (found_orders, found_repairs):
        if isinstance(failed, SourceUnavailable):  # the plain greeting: nothing on file is offered
            ctx.note(f"source unavailable: {failed}")
            return "unknown"
        if isinstance(failed, BaseException):
            raise failed
    assert not isinstance(found_orders, BaseException) and not isinstance(found_repairs, BaseException)
    _answered(ctx, "customers.orders")
    _answered(ctx, "customers.repairs")
    orders = [o for o in found_orders if _same_phone(caller, o.phone)]
    repairs = [r for r in found_repairs if _same_phone(caller, r.phone)]
    open_orders = sorted(
        (o for o in orders if o.status in OPEN_ORDERS),
        key=lambda o: (o.placed_on or date.min, o.order_number),
        reverse=True,
    )
    open_repairs = sorted(
        (r for r in repairs if r.status is not RepairStatus.CLOSED),
        key=lambda r: (r.updated_on or date.min, r.ticket_number),
        reverse=True,
    )
    named = next((o.customer_name for o in orders if o.customer_name), "")
    ctx.session.vars["first_name"] = named.split()[0] if named else ""
    if open_orders:
        order = open_orders[0]
        _release_order(ctx, order)
        ctx.session.vars["order_number"] = order.order_number
    elif open_repairs:
        _release_repair(ctx, open_repairs[0], owner=True)
        ctx.session.vars["ticket_number"] = open_repairs[0].ticket_number
        return "repair"
    else:
        return "unknown"
    return "several" if len(open_orders) + len(open_repairs) > 1 else "order"


async def find_warranty(ctx: ActionContext) -> str:
    """A serial number (printed on the product) gets the cover; what the product is, only
    the phone on file for the order it came with hears."""
    if not await _may_look_up(ctx):
        return LIMIT_REACHED
    try:
        warranty = await ctx.repository.warranty(ctx.session.vars.get("serial_number", ""))
    except SourceUnavailable as exc:
        return _unavailable(ctx, exc)
    _answered(ctx, "warranties")
    try:
        order = await ctx.repository.order(warranty.order_number) if warranty is not None else None
        unknown_owner = False
    except SourceUnavailable as exc:  # the cover can still be said; the product, only to its owner
        ctx.note(f"owner not checked: {exc}")
        order, unknown_owner = None, True
    owner = order is not None and _same_phone(ctx.session.caller, order.phone)
    if not owner and not unknown_owner:
        await _count_for_number(ctx)
    if warranty is None:
        return "not_found"
    ctx.session.vars.update(
        warranty_product=product_in(warranty.product, warranty.product_names, ctx.language) if owner else "",
        warranty_plan=warranty.plan.value,
        warranty_purchased_on=_iso(warranty.purchased_on),
        warranty_expires_on=_iso(warranty.expires_on),
    )
    if warranty.expires_on is not None and warranty.expires_on < ctx.today:
        return "expired"
    return "active"


OPT_OUT_KEY = "9"
"""On every outbound call, 9 adds the number to the opt-out list for good."""
HAPPY_FROM = 4
"""Scores from here up are happy customers (offered a review text); below, an apology."""


async def record_score(ctx: ActionContext) -> str:
    """The customer's 1-5 answer, kept with the campaign attempt (9 at this question opts out)."""
    answer = ctx.session.vars.pop("score", "")
    if answer == OPT_OUT_KEY:
        return "opt_out"
    if len(answer) != 1 or answer not in "12345":
        return "not_a_score"
    ctx.session.vars["survey_score"] = answer
    if ctx.outreach is not None:
        await ctx.outreach.record_score(ctx.session, int(answer))
    return "happy" if int(answer) >= HAPPY_FROM else "unhappy"


async def send_review_text(ctx: ActionContext) -> str:
    """The customer accepted: text them the review link (only now, never unasked)."""
    sent = ctx.outreach is not None and await ctx.outreach.send_review_text(ctx.session)
    return "sent" if sent else "failed"


async def request_callback(ctx: ActionContext) -> str:
    """An unhappy customer pressed 1: a service-recovery callback on the agent desk."""
    made = ctx.outreach is not None and await ctx.outreach.request_callback(ctx.session)
    return "created" if made else "failed"


async def opt_out(ctx: ActionContext) -> str:
    """The customer pressed 9: never called by a campaign again."""
    if ctx.outreach is not None:
        await ctx.outreach.opt_out(ctx.session)
    return "done"


CARRIER_TRACKING = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
}
"""Carriers whose tracking page the line can text; any other carrier's orders get no offer."""
TRACKING_TEXT = "text_message.tracking"
RETURN_LABEL_TEXT = "text_message.return_label"
TEXTED = "texted"
"""Kinds of text already sent in this call (comma-separated in the call's `attempts` keys)."""
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _tracking_url(ctx: ActionContext) -> str:
    """The carrier's tracking page for the verified order in this call, if there is one."""
    vars_ = ctx.session.vars
    verified = vars_.get("verified_order", "") and vars_.get("verified_order") == vars_.get("order_number")
    pattern = CARRIER_TRACKING.get(vars_.get("carrier", "").strip().lower())
    number = vars_.get("tracking_number", "")
    if not (verified and pattern and number and number.isalnum()):
        return ""
    return pattern.format(number)


def _may_text(ctx: ActionContext, kind: str, prompt_id: str) -> bool:
    """A text can go to this caller: the line can send texts, the caller's own number is a
    real one (E.164, not withheld), the message's wording exists, and it was not sent already."""
    return (
        ctx.texts is not None
        and _E164.fullmatch(ctx.session.caller) is not None
        and bool(ctx.render(prompt_id))
        and not ctx.session.attempts.get(f"{TEXTED}:{kind}")
    )


async def _send(ctx: ActionContext, kind: str, prompt_id: str) -> str:
    """Send one text to the number the caller is calling from, and note it in the call record."""
    if ctx.texts is None or not _may_text(ctx, kind, prompt_id):
        return "failed"
    try:
        sid = await ctx.texts.send(ctx.session.caller, ctx.render(prompt_id))
    except Exception as exc:  # any failure of the network or Twilio: the caller hears an apology
        log.error("text_failed: %s: %s", kind, exc)
        ctx.note(f"text not sent: {kind} ({type(exc).__name__})")
        return "failed"
    ctx.session.attempts[f"{TEXTED}:{kind}"] = 1
    ctx.note(f"text sent: {kind} to the caller's number ({sid})")
    return "sent"


async def offer_tracking_text(ctx: ActionContext) -> str:
    """Offer the tracking link by text only to a caller verified for the order, on their own line."""
    ctx.session.vars["tracking_url"] = _tracking_url(ctx)
    if ctx.session.vars["tracking_url"] and _may_text(ctx, "tracking", TRACKING_TEXT):
        return "offer"
    return "skip"


async def text_tracking_link(ctx: ActionContext) -> str:
    if not _tracking_url(ctx):
        return "failed"
    return await _send(ctx, "tracking", TRACKING_TEXT)


async def offer_return_label(ctx: ActionContext) -> str:
    """The returns page holds no personal data: any caller with a real number may have it."""
    return "offer" if _may_text(ctx, "return_label", RETURN_LABEL_TEXT) else "skip"


async def text_return_label(ctx: ActionContext) -> str:
    return await _send(ctx, "return_label", RETURN_LABEL_TEXT)


async def own_order_numbers(repository: Repository, caller: str) -> frozenset[str]:
    """The order numbers on file for the caller's own phone: what `find_order` releases to them."""
    orders = await repository.orders_of(caller)
    return frozenset(o.order_number for o in orders if _same_phone(caller, o.phone))


async def own_ticket_numbers(repository: Repository, caller: str) -> frozenset[str]:
    """The repair tickets on file for the caller's own phone."""
    repairs = await repository.repairs_of(caller)
    return frozenset(r.ticket_number for r in repairs if _same_phone(caller, r.phone))


EXPECTED_ANSWERS: Mapping[str, Callable[[Repository, str], Awaitable[frozenset[str]]]] = {
    "find_order": own_order_numbers,
    "find_repair": own_ticket_numbers,
}
"""Per look-up, the numbers a caller is known to have, asked before the question that feeds it.

A media stream ends the caller's answer after a short pause once it is one of these
(`ivr.mediastream.answers`). Only the caller's own: the time the line takes to answer must
not tell a stranger which numbers exist, and these are the ones the caller ID already
releases. Not counted as look-ups: they read what the caller ID would be told anyway."""

RETURN_STARTED_TEXT = "text_message.return_started"
MAX_RETURN_ITEMS = 5
"""Products of one order a caller chooses from by key at once: an order with more offers the
first five not yet returned, and the rest once those have gone back (a call, or an agent)."""
RETURNABLE = frozenset({OrderStatus.DELIVERED, OrderStatus.RETURNED})
"""Orders a return can be about: delivered ones, and returned ones (to say so)."""
RELEASED_RETURN_FIELDS = (
    "return_order",
    "return_delivered_on",
    "return_last_day",
    "return_days",
    "return_serials",
    "return_serial",
    "return_product",
    *(f"return_item_{n}" for n in range(1, MAX_RETURN_ITEMS + 1)),
)


def delivered_on(order: Order) -> date | None:
    """The day a delivered order arrived: its `eta` (the expected day becomes the day it came
    when the status is delivered), else the day it shipped, else the day it was placed."""
    return order.eta or order.ship_date or order.placed_on


def return_deadline(order: Order, days: int) -> date | None:
    """The last day a delivered order may be returned (that day included); None without a date."""
    arrived = delivered_on(order)
    return arrived + timedelta(days=days) if arrived is not None else None


async def _return_order(ctx: ActionContext) -> Order | None:
    """The order a return is about: the one verified in this call (caller ID or postal code)
    when it was delivered, else the caller ID's newest delivered one, else the verified one
    (to say why it can't go back yet). Nobody else's order is ever read.

    Greeting by caller ID verifies the caller's *open* order, but someone asking to send
    something back means one that has arrived."""
    verified_number = ctx.session.vars.get("verified_order", "")
    verified = await ctx.repository.order(verified_number) if verified_number else None
    if verified is not None and verified.status in RETURNABLE:
        return verified
    caller = ctx.session.caller.strip()
    mine = [o for o in await ctx.repository.orders_of(caller) if _same_phone(caller, o.phone)]
    delivered = [o for o in mine if o.status in RETURNABLE]
    delivered.sort(key=lambda o: (delivered_on(o) or date.min, o.order_number), reverse=True)
    return delivered[0] if delivered else verified


def _choose_product(ctx: ActionContext, serial: str, product: str) -> None:
    ctx.session.vars.update(return_serial=serial, return_product=product)


async def check_return(ctx: ActionContext) -> str:
    """May the caller's order go back? Says which rule stops it, or which products remain.

    Outcomes: `unverified` (no order verified for this caller: the policy answer),
    `not_delivered`, `too_late` (past the market's window, `return_last_day` says when it
    ended), `already_returned` (the order, or every product of it), `several` (products to
    choose from, `return_item_1`…) or `eligible` (one product, or an order without products)."""
    for name in RELEASED_RETURN_FIELDS:
        ctx.session.vars.pop(name, None)
    order = await _return_order(ctx)
    if order is None or ctx.returns is None:
        return "unverified"
    days = ctx.return_window.days_for(ctx.session.language)
    deadline = return_deadline(order, days)
    ctx.session.vars.update(
        return_order=order.order_number,
        return_days=str(days),
        return_delivered_on=_iso(delivered_on(order)),
        return_last_day=_iso(deadline),
    )
    if order.status is OrderStatus.RETURNED:
        return "already_returned"
    if order.status is not OrderStatus.DELIVERED:
        return "not_delivered"
    if deadline is None or ctx.today > deadline:
        return "too_late"
    returned = {r.serial_number for r in await ctx.returns.of_order(order.order_number)}
    products = await ctx.returns.products_of(order.order_number, ctx.language)
    if not products:
        if "" in returned:
            return "already_returned"
        _choose_product(ctx, "", "")
        return "eligible"
    left = [(serial, product) for serial, product in products if serial not in returned]
    if not left:
        return "already_returned"
    if len(left) == 1:
        _choose_product(ctx, *left[0])
        return "eligible"
    shown = left[:MAX_RETURN_ITEMS]
    ctx.session.vars["return_serials"] = ",".join(serial for serial, _ in shown)
    for number, (_, product) in enumerate(shown, start=1):
        ctx.session.vars[f"return_item_{number}"] = product
    return "several"


async def choose_return_item(ctx: ActionContext) -> str:
    """The key the caller pressed for one of the products `check_return` listed."""
    key = ctx.session.vars.pop("return_item", "")
    serials = ctx.session.vars.get("return_serials", "").split(",")
    if not key.isdigit() or not 1 <= int(key) <= len(serials) or not serials[0]:
        return "invalid"
    number = int(key)
    _choose_product(ctx, serials[number - 1], ctx.session.vars.get(f"return_item_{number}", ""))
    return "chosen"


async def _start_return(ctx: ActionContext, reason: ReturnReason) -> str:
    """File the return chosen in this call and text its label to the caller's own number.

    The store refuses a second return of one product (another call got there first):
    `already_returned`. Outcomes otherwise: `texted`, or `not_texted` (the line cannot text
    this caller, or the text failed: the return stands and its number is said)."""
    order = ctx.session.vars.get("return_order", "")
    if ctx.returns is None or not order or "return_serial" not in ctx.session.vars:
        return "failed"
    try:
        made = await ctx.returns.start(
            order,
            ctx.session.vars["return_serial"],
            ctx.session.vars.get("return_product", ""),
            ctx.session.caller,
            reason,
            ctx.session.language,
            ctx.today,
        )
    except Exception as exc:  # the database is down: an apology and a person, never an error
        log.error("return_failed: %s", exc)
        return "failed"
    if made is None:
        return "already_returned"
    ctx.session.vars.update(rma=made.rma, return_reason=reason.value)
    ctx.note(f"return started: {made.rma} (order {order}, {reason.value})")
    return "texted" if await _send(ctx, "return_started", RETURN_STARTED_TEXT) == "sent" else "not_texted"


def _starter(reason: ReturnReason) -> Callable[[ActionContext], Awaitable[str]]:
    async def run(ctx: ActionContext) -> str:
        return await _start_return(ctx, reason)

    return run


async def find_return(ctx: ActionContext) -> str:
    """A caller whose number started a return hears where it stands when they call again."""
    latest = await ctx.returns.latest_for(ctx.session.caller) if ctx.returns is not None else None
    if latest is None:
        return "none"
    ctx.session.vars.update(
        rma=latest.rma,
        return_status=latest.status.value,
        return_product=latest.product,
        return_order=latest.order_number,
        return_started_on=latest.started_on.isoformat(),
    )
    return "found"


# --- Fix it step by step: guides/*.yaml, walked in the call's variables (guide_walk) -----------

GUIDE_TEXT = "text_message.guide"


async def find_guide(ctx: ActionContext) -> str:
    """The guide the caller's words name ("my dishwasher shows E15"), started at step 1."""
    guide = ctx.guides.find(ctx.said, ctx.language)
    if guide is None:
        return "unknown"
    guide_walk.start(ctx.session.vars, guide, ctx.language)
    ctx.note(f"guide: {guide.name}")
    return "found"


def _guide(ctx: ActionContext) -> Guide | None:
    return ctx.guides.get(ctx.session.vars.get(guide_walk.GUIDE, ""))


async def offer_guide_text(ctx: ActionContext) -> str:
    """A long guide is offered as a link by text first: easier to follow at the machine."""
    steps = ctx.session.vars.get(guide_walk.STEPS, "0")
    long = steps.isdigit() and int(steps) >= LONG_GUIDE_STEPS
    return "offer" if long and _may_text(ctx, "guide", GUIDE_TEXT) else "skip"


async def text_guide_link(ctx: ActionContext) -> str:
    return await _send(ctx, "guide", GUIDE_TEXT)


def _answerer(said: guide_walk.Answer) -> Callable[[ActionContext], Awaitable[str]]:
    async def run(ctx: ActionContext) -> str:
        guide = _guide(ctx)
        if guide is None:  # not in this version's guides (a session from elsewhere): end it plainly
            ctx.session.vars[guide_walk.OUTCOME] = ctx.session.vars.get(guide_walk.GUIDE, "")
            return (
                guide_walk.Moved.SOLVED.value
                if said is guide_walk.Answer.YES
                else guide_walk.Moved.DONE.value
            )
        moved = guide_walk.answer(ctx.session.vars, guide, ctx.language, said)
        if moved is guide_walk.Moved.DONE:
            ctx.note(f"guide not solved: {ctx.session.vars[guide_walk.OUTCOME]}")
        return moved.value

    return run


# --- Booking a repair -----------------------------------------------------------
MAX_REPAIR_ITEMS = 5
"""Products a caller chooses from by key at once (as for returns)."""
GUIDE_OUTCOME = "guide_outcome"
"""What a guided troubleshooting already tried, set by that flow: kept on the booking."""
REPAIR_BOOKED_TEXT = "text_message.repair_booked"
RELEASED_REPAIR_FIELDS = (
    "repair_serials",
    "repair_serial",
    "repair_product",
    "repair_order",
    "repair_warranty_until",
    "repair_postal_code",
    "repair_option",
    "slot_count",
    "slot_1",
    "slot_2",
    "repair_slot_1",
    "repair_slot_2",
    *(f"repair_item_{n}" for n in range(1, MAX_REPAIR_ITEMS + 1)),
    *(f"offers_{option}" for option in REPAIR_OPTIONS),
)


async def _own_orders(ctx: ActionContext) -> list[Order]:
    """The orders this caller is verified for: the caller ID's own, and one verified in this
    call by its postal code. Nobody else's product is ever named."""
    caller = ctx.session.caller.strip()
    mine = [o for o in await ctx.repository.orders_of(caller) if _same_phone(caller, o.phone)]
    verified = ctx.session.vars.get("verified_order", "")
    if verified and verified not in {o.order_number for o in mine}:
        order = await ctx.repository.order(verified)
        if order is not None:
            mine.append(order)
    return mine


async def _repair_products(ctx: ActionContext) -> list[Product]:
    if ctx.repairs is None:
        return []
    orders = await _own_orders(ctx)
    return list(await ctx.repairs.products_of([o.order_number for o in orders], ctx.language))


def _choose_repair_product(ctx: ActionContext, product: Product) -> str:
    """Remember the product and say whether its warranty covers the repair (the day it ends
    included); the options on offer are set for the next question."""
    ctx.session.vars.update(
        repair_serial=product.serial_number,
        repair_product=product.product,
        repair_order=product.order_number,
        repair_warranty_until=_iso(product.expires_on),
    )
    for option in REPAIR_OPTIONS:
        ctx.session.vars[f"offers_{option}"] = "1" if option in ctx.repair_options else ""
    covered = product.expires_on is not None and ctx.today <= product.expires_on
    return "covered" if covered else "not_covered"


async def check_repair(ctx: ActionContext) -> str:
    """The start of a booking (the `book_repair` state other flows enter): whose product, and
    does the warranty cover it?

    Outcomes: `unverified` (no product on file for this caller: a person books it), `booked`
    (this number has a standing booking: hear it, move or cancel it), `several` (products to
    choose from, `repair_item_1`…), `covered`, `not_covered` (the market's price is said), or
    `failed` (the data could not be read)."""
    for name in RELEASED_REPAIR_FIELDS:
        ctx.session.vars.pop(name, None)
    if ctx.repairs is None:
        return "unverified"
    try:
        if await find_repair_booking(ctx) == "found":
            return "booked"
        products = await _repair_products(ctx)
    except Exception as exc:  # an apology and a person, never an application error
        log.error("repair_check_failed: %s", exc)
        return "failed"
    if not products:
        return "unverified"
    if len(products) == 1:
        return _choose_repair_product(ctx, products[0])
    shown = products[:MAX_REPAIR_ITEMS]
    ctx.session.vars["repair_serials"] = ",".join(p.serial_number for p in shown)
    for number, product in enumerate(shown, start=1):
        ctx.session.vars[f"repair_item_{number}"] = product.product
    return "several"


async def choose_repair_item(ctx: ActionContext) -> str:
    """The key the caller pressed for one of the products `check_repair` listed."""
    key = ctx.session.vars.pop("repair_item", "")
    serials = ctx.session.vars.get("repair_serials", "").split(",")
    if not key.isdigit() or not 1 <= int(key) <= len(serials) or not serials[0] or ctx.repairs is None:
        return "invalid"
    wanted = serials[int(key) - 1]
    try:
        products = await _repair_products(ctx)
    except Exception as exc:
        log.error("repair_check_failed: %s", exc)
        return "invalid"
    chosen = next((p for p in products if p.serial_number == wanted), None)
    return _choose_repair_product(ctx, chosen) if chosen is not None else "invalid"


def _slot_words(ctx: ActionContext, slot: Slot, *, dated: bool = False) -> str:
    """A slot as said in the call's language: "Tuesday morning" within the week ahead, "the
    morning of Monday, December 7" beyond it or `dated` (a text read days later), from the
    prompts `repair_slot` and `repair_slot_far`."""
    near = (slot.day - ctx.today).days <= WEEK_AHEAD and not dated
    ctx.session.vars["slot_day"] = slot.day.isoformat()
    try:
        return ctx.render(f"{'repair_slot' if near else 'repair_slot_far'}.{slot.part.value}")
    finally:
        ctx.session.vars.pop("slot_day", None)


def _slot_key(slot: Slot) -> str:
    return f"{slot.day.isoformat()}/{slot.part.value}"


def _slot_from(key: str) -> Slot | None:
    day, _, part = key.partition("/")
    try:
        return Slot(date.fromisoformat(day), DayPart(part))
    except ValueError:
        return None


async def offer_repair_slots(ctx: ActionContext) -> str:
    """The next two free slots of the calendar, as words (`slot_1`, `slot_2`) and as keys.

    Outcomes: `offered`, `none` (the calendar has no free slot: a person arranges it), `failed`."""
    for name in ("slot_1", "slot_2", "repair_slot_1", "repair_slot_2", "slot_count"):
        ctx.session.vars.pop(name, None)
    if ctx.repairs is None:
        return "failed"
    try:
        free = await ctx.repairs.free_slots(ctx.today, 2)
    except Exception as exc:
        log.error("repair_slots_failed: %s", exc)
        return "failed"
    if not free:
        return "none"
    for number, slot in enumerate(free, start=1):
        ctx.session.vars[f"slot_{number}"] = _slot_words(ctx, slot)
        ctx.session.vars[f"repair_slot_{number}"] = _slot_key(slot)
    ctx.session.vars["slot_count"] = "two" if len(free) == 2 else "one"
    return "offered"


async def _book(ctx: ActionContext, option: RepairOption, slot: Slot | None) -> str:
    """File the booking and text it to the caller's own number.

    Outcomes: `texted`, `not_texted` (booked; the line cannot text this caller or the text
    failed), `taken` (another caller took the slot meanwhile: the next ones are offered),
    `already_booked` (the product has a standing booking) or `failed`."""
    vars_ = ctx.session.vars
    if ctx.repairs is None or not vars_.get("repair_serial"):
        return "failed"
    product = Product(
        vars_["repair_serial"],
        vars_.get("repair_order", ""),
        vars_.get("repair_product", ""),
        date.fromisoformat(vars_["repair_warranty_until"]) if vars_.get("repair_warranty_until") else None,
    )
    covered = product.expires_on is not None and ctx.today <= product.expires_on
    try:
        made = await ctx.repairs.book(
            product,
            ctx.session.caller,
            option,
            slot,
            covered=covered,
            guide_outcome=vars_.get(GUIDE_OUTCOME, "")[:500],
            language=ctx.session.language,
            booked_on=ctx.today,
        )
    except SlotTaken:
        ctx.note(f"repair slot taken meanwhile: {_slot_key(slot) if slot else ''}")
        return "taken"
    except AlreadyBooked:
        return "already_booked"
    except Exception as exc:  # the database is down: an apology and a person, never an error
        log.error("repair_booking_failed: %s", exc)
        return "failed"
    _booked(ctx, made.number, option, slot)
    ctx.note(f"repair booked: {made.number} ({option.value}{', ' + _slot_key(slot) if slot else ''})")
    sent = await _send(ctx, "repair_booked", f"{REPAIR_BOOKED_TEXT}.{option.value}")
    return "texted" if sent == "sent" else "not_texted"


def _booked(ctx: ActionContext, number: str, option: RepairOption, slot: Slot | None) -> None:
    ctx.session.vars.update(
        booking_number=number,
        repair_option=option.value,
        booking_slot=_slot_words(ctx, slot) if slot else "",
        booking_date=_slot_words(ctx, slot, dated=True) if slot else "",
    )


def _option_chooser(option: RepairOption) -> Callable[[ActionContext], Awaitable[str]]:
    """The caller chose how the product reaches a technician. A drop-off is booked at once;
    a pickup or visit hears the next free slots first (`offer_repair_slots`' outcomes)."""

    async def run(ctx: ActionContext) -> str:
        if option.value not in ctx.repair_options:
            return "not_offered"
        ctx.session.vars["repair_option"] = option.value
        if not option.needs_slot:
            return await _book(ctx, option, None)
        try:  # the address is confirmed by its postal code, never read out whole
            order = await ctx.repository.order(ctx.session.vars.get("repair_order", ""))
        except Exception as exc:
            log.error("repair_address_failed: %s", exc)
            return "failed"
        ctx.session.vars["repair_postal_code"] = order.postal_code if order is not None else ""
        return await offer_repair_slots(ctx)

    return run


async def guide_back(ctx: ActionContext) -> str:
    guide = _guide(ctx)
    if guide is None:
        return guide_walk.Moved.FIRST.value
    return guide_walk.back(ctx.session.vars, guide, ctx.language).value


def _slot_booker(number: int) -> Callable[[ActionContext], Awaitable[str]]:
    async def run(ctx: ActionContext) -> str:
        slot = _slot_from(ctx.session.vars.get(f"repair_slot_{number}", ""))
        option = ctx.session.vars.get("repair_option", "")
        if slot is None or option not in REPAIR_OPTIONS:
            return "failed"
        return await _book(ctx, RepairOption(option), slot)

    return run


async def find_repair_booking(ctx: ActionContext) -> str:
    """A caller whose number booked a repair hears it when they call again (and may move or
    cancel it): `found`, or `none`."""
    standing = await ctx.repairs.standing_for(ctx.session.caller) if ctx.repairs is not None else None
    if standing is None:
        return "none"
    ctx.session.vars.update(repair_product=standing.product, repair_serial=standing.serial_number)
    _booked(ctx, standing.number, standing.option, standing.slot)
    return "found"


def _slot_mover(number: int) -> Callable[[ActionContext], Awaitable[str]]:
    """Move the standing booking to the offered slot `number`: `texted`, `not_texted`,
    `taken` (someone took it meanwhile) or `failed`."""

    async def run(ctx: ActionContext) -> str:
        slot = _slot_from(ctx.session.vars.get(f"repair_slot_{number}", ""))
        booking = ctx.session.vars.get("booking_number", "")
        if ctx.repairs is None or slot is None or not booking or not ctx.session.vars.get("booking_slot"):
            return "failed"  # a drop-off has no time to move
        try:
            moved = await ctx.repairs.move(booking, slot)
        except SlotTaken:
            return "taken"
        except Exception as exc:
            log.error("repair_move_failed: %s", exc)
            return "failed"
        _booked(ctx, moved.number, moved.option, slot)
        ctx.note(f"repair booking moved: {booking} to {_slot_key(slot)}")
        ctx.session.attempts.pop(f"{TEXTED}:repair_booked", None)  # the new time is texted too
        sent = await _send(ctx, "repair_booked", f"{REPAIR_BOOKED_TEXT}.{moved.option.value}")
        return "texted" if sent == "sent" else "not_texted"

    return run


async def cancel_repair_booking(ctx: ActionContext) -> str:
    """Cancel the standing booking heard in this call and free its slot: `cancelled`, `failed`."""
    booking = ctx.session.vars.get("booking_number", "")
    if ctx.repairs is None or not booking:
        return "failed"
    try:
        done = await ctx.repairs.cancel(booking)
    except Exception as exc:
        log.error("repair_cancel_failed: %s", exc)
        return "failed"
    if done:
        ctx.note(f"repair booking cancelled: {booking}")
    return "cancelled" if done else "failed"


SELF_SERVICE: Mapping[str, tuple[str, frozenset[str]]] = {
    **{
        f"start_return_{reason.value}": ("returns_started", frozenset({"texted", "not_texted"}))
        for reason in ReturnReason
    },
    "guide_yes": ("guides_solved", frozenset({guide_walk.Moved.SOLVED.value})),
    "guide_no": ("guides_not_solved", frozenset({guide_walk.Moved.DONE.value})),
    "guide_skip": ("guides_not_solved", frozenset({guide_walk.Moved.DONE.value})),
    "choose_repair_dropoff": ("repairs_booked", frozenset({"texted", "not_texted"})),
    "book_repair_slot_1": ("repairs_booked", frozenset({"texted", "not_texted"})),
    "book_repair_slot_2": ("repairs_booked", frozenset({"texted", "not_texted"})),
}
"""Actions that finish a job for the caller without a person: what the insights count it as,
and the outcomes that mean it was done (a refused or failed return is not one)."""

ACTIONS: Mapping[str, Action] = {
    action.name: action
    for action in (
        Action(
            "find_order",
            ("order_number",),
            frozenset({"verified", "needs_verification", LIMIT_REACHED, UNAVAILABLE}),
            find_order,
        ),
        Action("find_caller", (), frozenset({"order", "several", "repair", "unknown"}), find_caller),
        Action(
            "check_postal_code",
            ("order_number", "postal_code"),
            frozenset({"verified", "mismatch", LIMIT_REACHED, UNAVAILABLE}),
            check_postal_code,
        ),
        Action(
            "find_repair",
            ("ticket_number",),
            frozenset({"found", "not_found", LIMIT_REACHED, UNAVAILABLE}),
            find_repair,
        ),
        Action(
            "find_warranty",
            ("serial_number",),
            frozenset({"active", "expired", "not_found", LIMIT_REACHED, UNAVAILABLE}),
            find_warranty,
        ),
        Action(
            "record_score",
            ("score",),
            frozenset({"happy", "unhappy", "not_a_score", "opt_out"}),
            record_score,
        ),
        Action("send_review_text", (), frozenset({"sent", "failed"}), send_review_text),
        Action("request_callback", (), frozenset({"created", "failed"}), request_callback),
        Action("opt_out", (), frozenset({"done"}), opt_out),
        Action("offer_tracking_text", (), frozenset({"offer", "skip"}), offer_tracking_text),
        Action("text_tracking_link", (), frozenset({"sent", "failed"}), text_tracking_link),
        Action("offer_return_label", (), frozenset({"offer", "skip"}), offer_return_label),
        Action("text_return_label", (), frozenset({"sent", "failed"}), text_return_label),
        Action(
            "check_return",
            (),
            frozenset({"unverified", "not_delivered", "too_late", "already_returned", "several", "eligible"}),
            check_return,
        ),
        Action("choose_return_item", ("return_item",), frozenset({"chosen", "invalid"}), choose_return_item),
        *(
            Action(
                f"start_return_{reason.value}",
                (),
                frozenset({"texted", "not_texted", "already_returned", "failed"}),
                _starter(reason),
            )
            for reason in ReturnReason
        ),
        Action("find_return", (), frozenset({"found", "none"}), find_return),
        Action("find_guide", (), frozenset({"found", "unknown"}), find_guide),
        Action("offer_guide_text", (), frozenset({"offer", "skip"}), offer_guide_text),
        Action("text_guide_link", (), frozenset({"sent", "failed"}), text_guide_link),
        Action("guide_yes", (), frozenset({"solved"}), _answerer(guide_walk.Answer.YES)),
        Action("guide_no", (), frozenset({"step", "done"}), _answerer(guide_walk.Answer.NO)),
        Action("guide_skip", (), frozenset({"step", "done"}), _answerer(guide_walk.Answer.SKIPPED)),
        Action("guide_back", (), frozenset({"step", "first"}), guide_back),
        Action(
            "check_repair",
            (),
            frozenset({"unverified", "booked", "several", "covered", "not_covered", "failed"}),
            check_repair,
        ),
        Action(
            "choose_repair_item",
            ("repair_item",),
            frozenset({"covered", "not_covered", "invalid"}),
            choose_repair_item,
        ),
        Action(
            "choose_repair_dropoff",
            (),
            frozenset({"texted", "not_texted", "already_booked", "failed", "not_offered"}),
            _option_chooser(RepairOption.DROPOFF),
        ),
        *(
            Action(
                f"choose_repair_{option.value}",
                (),
                frozenset({"offered", "none", "failed", "not_offered"}),
                _option_chooser(option),
            )
            for option in (RepairOption.PICKUP, RepairOption.VISIT)
        ),
        Action("offer_repair_slots", (), frozenset({"offered", "none", "failed"}), offer_repair_slots),
        *(
            Action(
                f"book_repair_slot_{number}",
                (),
                frozenset({"texted", "not_texted", "taken", "already_booked", "failed"}),
                _slot_booker(number),
            )
            for number in (1, 2)
        ),
        Action("find_repair_booking", (), frozenset({"found", "none"}), find_repair_booking),
        *(
            Action(
                f"move_repair_slot_{number}",
                (),
                frozenset({"texted", "not_texted", "taken", "failed"}),
                _slot_mover(number),
            )
            for number in (1, 2)
        ),
        Action("cancel_repair_booking", (), frozenset({"cancelled", "failed"}), cancel_repair_booking),
    )
}
