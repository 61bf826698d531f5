"""When a customer may be called: inside the campaign's window in *their* local time, on a
day the line is open, never on its holidays.

Pure: no database and no network, so every rule is tested with plain values and a fixed clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from ivr.config import zone_named
from ivr.hours import BusinessHours
from ivr.outreach.campaigns import Campaign


def customer_zone(number: str, time_zone: str) -> ZoneInfo | None:
    """The customer's zone: the imported `time_zone`, else the one their number's area lies in.

    None when neither says (an unknown zone, or a number whose area spans several zones, such
    as a mobile number in a country with many): such customers are not called, rather than
    woken up at night on a guess."""
    if time_zone:
        try:
            return zone_named(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in number_zones.time_zones_for_number(parsed) if z != number_zones.UNKNOWN_TIMEZONE]
    if len(zones) != 1:
        return None
    try:
        return ZoneInfo(zones[0])
    except (ZoneInfoNotFoundError, ValueError):
        return None


def may_call(campaign: Campaign, zone: ZoneInfo | None, now: float, hours: BusinessHours | None) -> bool:
    """Whether a customer in `zone` may be called at `now` (a UNIX time)."""
    if zone is None:
        return False
    local = datetime.fromtimestamp(now, UTC).astimezone(zone)
    if not campaign.window_from <= local.time() < campaign.window_to:
        return False
    if hours is None:
        return True
    if hours.emergency_closed:
        return False
    # A holiday or a closed weekday where the line keeps its hours: nobody could call back.
    line_day = datetime.fromtimestamp(now, UTC).astimezone(hours.timezone).date()
    return bool(hours.day(line_day)) and bool(hours.day(local.date()))
