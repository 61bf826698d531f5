"""The support team's business records: orders, warranties and repairs.

These are the rows `ivr import` loads and the lookups read. They are plain frozen
dataclasses so the repository, the importer and the flow actions share one shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    product_names: Mapping[str, str] = field(default_factory=dict)
    """The product's name per language (`product_de`, `product_sv` in the file); see `product_in`."""


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
    product_names: Mapping[str, str] = field(default_factory=dict)
    """The product's name per language (`product_de`, `product_sv` in the file); see `product_in`."""


def product_in(product: str, names: Mapping[str, str], language: str) -> str:
    """A product's name for a caller of `language` ('' for the line's default language).

    The file's `product` column is in the line's default language. Another language hears
    its own column's name or none at all: a German sentence with "coffee machine" in it is
    worse than "Ihr Gerät", and every prompt names the product in an optional part."""
    return names.get(language, "") if language else product


def names_text(names: Mapping[str, str]) -> str:
    """The per-language names as stored in one text column (both databases): JSON."""
    return json.dumps(dict(sorted(names.items())), ensure_ascii=False) if names else ""


def names_from(text: str | None) -> dict[str, str]:
    """The stored column back as a mapping; '' (rows imported before it existed) is none."""
    return {str(k): str(v) for k, v in json.loads(text).items()} if text else {}
