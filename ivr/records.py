"""The support team's business records: orders, warranties and repairs.

These are the rows `ivr import` loads and the lookups read. They are plain frozen
dataclasses so the repository, the importer and the flow actions share one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class OrderStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class RepairStatus(StrEnum):
    RECEIVED = "received"
    DIAGNOSING = "diagnosing"
    WAITING_FOR_PARTS = "waiting_for_parts"
    REPAIRING = "repairing"
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED_BACK = "shipped_back"
    CLOSED = "closed"


class WarrantyPlan(StrEnum):
    STANDARD = "standard"
    EXTENDED = "extended"


@dataclass(frozen=True, slots=True)
class Order:
    order_number: str
    """Digits only: callers key it in on the phone keypad."""
    phone: str
    """E.164; a caller whose caller ID matches is verified without a postal code."""
    customer_name: str
    postal_code: str
    """The second way to verify: compared digit-for-digit with what the caller keys in."""
    status: OrderStatus
    carrier: str
    tracking_number: str
    placed_on: date | None
    ship_date: date | None
    eta: date | None
    language: str = ""
    """The customer's language (`de`), from the orders file's optional `language` column;
    kept per phone number (`ivr.store.caller_languages`), not with the order."""


@dataclass(frozen=True, slots=True)
class Warranty:
    serial_number: str
    """Digits only, as printed on the product's label."""
    order_number: str
    product: str
    purchased_on: date | None
    expires_on: date | None
    plan: WarrantyPlan


@dataclass(frozen=True, slots=True)
class Repair:
    ticket_number: str
    """Digits only: callers key it in."""
    serial_number: str
    phone: str
    product: str
    status: RepairStatus
    updated_on: date | None
    eta: date | None
