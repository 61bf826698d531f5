"""A line with campaigns for the outreach tests: the real app on loopback, a fixed clock, the
sandbox's Twilio account (calls with answering machine detection, texts), and customers
imported with and without consent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

from aiohttp import web

from ivr.config import Settings
from ivr.importer import ImportKind, parse_text
from ivr.outreach.consent import parse_consent
from ivr.outreach.service import Outreach
from ivr.outreach.store import OutreachStore
from ivr.outreach.web import OUTREACH
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER
from ivr.sandbox.outbound import OutboundAccount
from ivr.session import CallSession
from ivr.store.backends import build_stores
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.testing.demo_line import make_settings
from ivr.web.app import create_app

TODAY = date(2026, 11, 23)
"""A Monday."""
NOON_IN_NEW_YORK = datetime(2026, 11, 23, 17, 0, tzinfo=UTC).timestamp()
"""12:00 in New York, 04:00 next morning in Sydney."""
JANE = "+12125550101"
"""A New York number (the zone comes from it), who agreed to be called."""
SAM = "+12125550102"
"""Did not agree (contact_ok no)."""
OPTED_OUT = "+12125550103"
"""Agreed once, then asked never to be called."""
SYDNEY = "+61255501234"
"""Agreed, but it is the middle of the night there."""
REVIEW_URL = "https://reviews.example.com/acme"

HEADER = "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
ORDERS = f"""{HEADER},contact_ok,time_zone
5001,{JANE},Jane Doe,10001,delivered,UPS,1Z1,2026-11-15,2026-11-16,2026-11-20,yes,
5002,{SAM},Sam Lee,10001,delivered,UPS,1Z2,2026-11-15,2026-11-16,2026-11-20,no,
5003,{OPTED_OUT},Ola Berg,10001,delivered,UPS,1Z3,2026-11-15,2026-11-16,2026-11-20,yes,America/New_York
5004,{SYDNEY},Mia Chen,2000,delivered,UPS,1Z4,2026-11-15,2026-11-16,2026-11-20,yes,Australia/Sydney
5005,{JANE},Jane Doe,10001,shipped,UPS,1Z5,2026-11-15,2026-11-16,2026-11-27,yes,
"""
WARRANTIES = """serial_number,order_number,product,product_de,purchased_on,expires_on,plan
88001,5001,coffee machine,Kaffeemaschine,2026-11-15,2027-11-15,standard
88002,5001,toaster,Toaster,2025-12-20,2026-12-20,standard
"""


class Clock:
    """The campaigns' clock, moved by the test."""

    def __init__(self, now: float = NOON_IN_NEW_YORK) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def import_customers(database_url: str, orders: str = ORDERS) -> None:
    """What `ivr import orders` writes: the records, their consent and their language."""
    stores = build_stores(database_url)
    await stores.open()
    try:
        records = parse_text(ImportKind.ORDERS, orders, "orders.csv")
        await stores.repository.upsert(records)
        spoken = {o.phone: o.language for o in records if o.language}
        await SqlCallerLanguages(stores.sql).import_orders(spoken)
        await stores.repository.upsert(parse_text(ImportKind.WARRANTIES, WARRANTIES, "warranties.csv"))
        await OutreachStore(stores.sql).save_consent(
            "orders", parse_consent(ImportKind.ORDERS, orders, "orders.csv")
        )
        await OutreachStore(stores.sql).opt_out(OPTED_OUT, "test", NOON_IN_NEW_YORK)
    finally:
        await stores.close()


def outreach_settings(
    tmp_path: Path, twilio: OutboundAccount, *, database_url: str = "", **env: str
) -> Settings:
    extra = {"IVR_DATABASE_URL": database_url} if database_url else {}
    return make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=twilio.api_base,
        IVR_CAMPAIGN_ROUND="0",
        IVR_REVIEW_URL=REVIEW_URL,
        **extra,
        **env,
    )


def outreach_app(settings: Settings, clock: Clock) -> web.Application:
    """The line, its campaigns and its business hours all on the test's clock."""
    return create_app(settings, today=lambda: TODAY, now=lambda: datetime.fromtimestamp(clock(), UTC))


def outreach_of(app: web.Application) -> Outreach:
    return app[OUTREACH]


def transcript(session: CallSession) -> str:
    """A call as the golden transcripts show it: who said what, in order."""
    return "\n".join(f"{entry.who}: {entry.text}" for entry in session.transcript)


def said(twiml: str) -> str:
    return " ".join((el.text or "").strip() for el in ET.fromstring(twiml).iter("Say"))


async def press(twilio: OutboundAccount, call_sid: str, twiml: str, keys: str) -> str:
    """The customer presses keys at the question `twiml` asks: Twilio posts them to its action."""
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    call = twilio.calls[call_sid]
    result = await twilio.post_signed(gather.attrib["action"], {**twilio.call_params(call), "Digits": keys})
    assert result.status == 200, result.body
    return result.body
