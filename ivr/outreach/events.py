"""What each trigger finds in the imported data: the customers a campaign may call, and when.

Only records whose import said `contact_ok` (see `ivr.outreach.consent`) are found; the
default is no. Dates are read as the importer stored them (ISO text in SQLite, `date` in
PostgreSQL) and compared here, in one way for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from ivr.outreach.campaigns import Campaign, Trigger
from ivr.outreach.store import Event
from ivr.store.sql import Row, Sql

_ORDERS = (
    "SELECT o.order_number, o.phone, o.customer_name, o.eta AS day, c.time_zone,"
    " (SELECT min(w.product) FROM warranties w WHERE w.order_number = o.order_number) AS product,"
    " (SELECT w.product_names FROM warranties w WHERE w.order_number = o.order_number"
    " ORDER BY w.product LIMIT 1) AS product_names"
    " FROM orders o JOIN contact_consent c ON c.kind = 'orders' AND c.record = o.order_number"
    " WHERE c.contact_ok = 1 AND o.status = 'delivered' AND o.eta IS NOT NULL"
)
_REPAIRS = (
    "SELECT r.ticket_number, r.phone, r.product, r.product_names, r.updated_on AS day, c.time_zone,"
    " (SELECT min(o.customer_name) FROM orders o WHERE o.phone = r.phone) AS customer_name"
    " FROM repairs r JOIN contact_consent c ON c.kind = 'repairs' AND c.record = r.ticket_number"
    " WHERE c.contact_ok = 1 AND r.status IN ('closed', 'shipped_back') AND r.updated_on IS NOT NULL"
)
_WARRANTIES = (
    "SELECT w.serial_number, w.order_number, w.product, w.product_names, w.expires_on AS day, o.phone,"
    " o.customer_name, c.time_zone FROM warranties w JOIN orders o ON o.order_number = w.order_number"
    " JOIN contact_consent c ON c.kind = 'orders' AND c.record = w.order_number"
    " WHERE c.contact_ok = 1 AND w.expires_on IS NOT NULL"
)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


async def find_events(sql: Sql, campaign: Campaign, today: date) -> list[Event]:
    """The events this campaign's trigger finds that are due by today and not too old."""
    if campaign.trigger is Trigger.ORDER_DELIVERED:
        rows, build = await sql.fetch(_ORDERS), _delivered
    elif campaign.trigger is Trigger.REPAIR_CLOSED:
        rows, build = await sql.fetch(_REPAIRS), _repaired
    else:
        rows, build = await sql.fetch(_WARRANTIES), _expiring
    events = []
    for row in rows:
        day = _day(row["day"])
        due = (
            day - timedelta(days=campaign.delay_days)
            if campaign.trigger is Trigger.WARRANTY_EXPIRING
            else (day + timedelta(days=campaign.delay_days))
        )
        if due > today or (today - due).days > campaign.max_age_days:
            continue
        if campaign.trigger is Trigger.WARRANTY_EXPIRING and day < today:
            continue  # already ended: nothing left to offer before it does
        events.append(build(row, day, _midnight(due)))
    return events


PRODUCT_NAMES = "product_names"
"""The context's per-language product names (JSON), until the call's language picks one."""


def _context(row: Row, **values: str) -> Mapping[str, str]:
    """A delivery without a warranty on file names no product: "your order" then (in the
    line's default language; another language's prompt leaves an empty name out)."""
    product = str(row["product"] or "") or "order"
    names = {PRODUCT_NAMES: str(row[PRODUCT_NAMES])} if row[PRODUCT_NAMES] else {}
    return {"customer_name": str(row["customer_name"] or ""), "product": product, **names, **values}


def _event(key: str, row: Row, day: date, due: float, **context: str) -> Event:
    """The event `key` for the customer of `row`, on `day`, due at `due`."""
    return Event(
        key=key,
        number=row["phone"],
        time_zone=row["time_zone"],
        due_at=due,
        context=_context(row, event_date=day.isoformat(), **context),
    )


def _delivered(row: Row, day: date, due: float) -> Event:
    number = row["order_number"]
    return _event(f"order_delivered:{number}", row, day, due, order_number=number, event="order_delivered")


def _repaired(row: Row, day: date, due: float) -> Event:
    ticket = row["ticket_number"]
    return _event(f"repair_closed:{ticket}", row, day, due, ticket_number=ticket, event="repair_closed")


def _expiring(row: Row, day: date, due: float) -> Event:
    serial = row["serial_number"]
    return _event(
        f"warranty_expiring:{serial}", row, day, due, order_number=row["order_number"], serial_number=serial
    )
