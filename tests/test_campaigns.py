"""Campaign files, consent columns and calling windows: checked before anything is called."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import ConfigError, Settings
from ivr.flow.files import compile_files, read_files
from ivr.hours import HoursInvalid, parse_hours
from ivr.importer import ImportFailed, ImportKind
from ivr.outreach.calling_window import customer_zone, may_call
from ivr.outreach.campaigns import Campaign, CampaignInvalid, Trigger, load_campaigns, parse_campaign
from ivr.outreach.consent import parse_consent
from ivr.outreach.web import check_campaigns
from ivr.yamlsource import load_text

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ["followup", "support", "warranty_offer"]
GOOD = """campaign: test
trigger: order_delivered
flow: followup
delay_days: 3
window: {from: "10:00", to: "19:00"}
attempts: 3
spacing_hours: 4
daily_cap: 10
concurrent_cap: 2
"""


def refused(text: str) -> str:
    with pytest.raises(CampaignInvalid) as caught:
        parse_campaign(load_text(text, "campaigns/test.yaml"), FLOWS)
    return str(caught.value)


def test_the_shipped_campaigns_and_flows_load_and_are_all_off_until_enabled() -> None:
    campaigns = check_campaigns(ROOT / "flows", ROOT / "prompts", ROOT / "campaigns", "en")
    assert {name: c.trigger for name, c in campaigns.items()} == {
        "delivery-followup": Trigger.ORDER_DELIVERED,
        "repair-followup": Trigger.REPAIR_CLOSED,
        "warranty-expiry": Trigger.WARRANTY_EXPIRING,
    }
    assert all("enabled" not in (ROOT / "campaigns" / f"{n}.yaml").read_text() for n in campaigns)
    for flow in ("followup", "warranty_offer"):
        compiled = compile_files(read_files(ROOT / "flows" / f"{flow}.yaml", ROOT / "prompts"), language="en")
        assert compiled.warnings == []


def test_an_unknown_trigger_is_refused_with_its_line() -> None:
    message = refused(GOOD.replace("order_delivered", "order_shipped"))
    assert message.startswith("campaigns/test.yaml line 2: unknown trigger 'order_shipped'")


def test_the_inbound_survey_as_a_trigger_is_refused_with_where_its_switch_is() -> None:
    message = refused(GOOD.replace("order_delivered", "after_inbound_call"))
    assert message.startswith(
        "campaigns/test.yaml line 2: the survey after inbound calls is IVR_INBOUND_SURVEY=on"
    )


def test_an_impossible_window_is_refused_with_its_line() -> None:
    message = refused(GOOD.replace('{from: "10:00", to: "19:00"}', '{from: "19:00", to: "10:00"}'))
    expected = "campaigns/test.yaml line 5: impossible window: it closes at 10:00 before it opens at 19:00"
    assert expected in message
    assert "line 5" in refused(GOOD.replace('"19:00"', '"25:00"'))


def test_a_missing_flow_is_refused_with_its_line() -> None:
    message = refused(GOOD.replace("flow: followup", "flow: survey"))
    assert message.startswith("campaigns/test.yaml line 3: flow 'survey' does not exist")


def test_a_missing_machine_message_and_unknown_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "test.yaml").write_text(GOOD + "machine_prompt: nothing_here\n")
    with pytest.raises(CampaignInvalid, match="line 10: prompt 'nothing_here' does not exist"):
        load_campaigns(tmp_path, FLOWS, ["followup_machine"])
    assert "line 10: unknown setting 'colour'" in refused(GOOD + "colour: blue\n")


def test_consent_is_no_unless_the_file_says_yes_and_a_bad_value_names_its_line() -> None:
    header = "order_number,phone,contact_ok,time_zone\n"
    assert parse_consent(ImportKind.ORDERS, "order_number,phone\n1,+15550100001\n", "o.csv") == [
        ("1", False, "")
    ]
    rows = parse_consent(ImportKind.ORDERS, header + "1,+1555,yes,Europe/Berlin\n2,+1556,,\n", "o.csv")
    assert rows == [("1", True, "Europe/Berlin"), ("2", False, "")]
    with pytest.raises(ImportFailed, match=r"o\.csv line 3: contact_ok 'maybe'"):
        parse_consent(ImportKind.ORDERS, header + "1,+1555,yes,\n2,+1556,maybe,\n", "o.csv")
    with pytest.raises(ImportFailed, match=r"o\.csv line 2: time_zone 'Mars/Olympus'"):
        parse_consent(ImportKind.ORDERS, header + "1,+1555,yes,Mars/Olympus\n", "o.csv")


def campaign(**changes: object) -> Campaign:
    base = parse_campaign(load_text(GOOD, "t.yaml"), FLOWS)
    return Campaign(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_the_window_is_the_customers_local_time_and_the_zone_comes_from_the_number() -> None:
    new_york = customer_zone("+12125550101", "")
    assert new_york == ZoneInfo("America/New_York")
    assert customer_zone("+15550100001", "") is None  # no single zone: not called on a guess
    assert customer_zone("+15550100001", "Europe/Berlin") == ZoneInfo("Europe/Berlin")
    test = campaign(window_from=time(10), window_to=time(19))
    assert may_call(test, new_york, at("2026-11-23T17:00:00"), None)  # 12:00 in New York
    assert not may_call(test, new_york, at("2026-11-23T14:59:00"), None)  # 09:59
    assert not may_call(test, new_york, at("2026-11-24T00:00:00"), None)  # 19:00
    assert not may_call(test, None, at("2026-11-23T17:00:00"), None)


def test_no_calls_on_holidays_or_days_the_line_is_closed() -> None:
    hours = parse_hours(
        {
            "timezone": "America/New_York",
            "weekly": {"mon-fri": "08:00-20:00", "sat": "09:00-17:00", "sun": "closed"},
            "holidays": {"2026-11-26": "closed"},
        }
    )
    test = campaign()
    new_york = ZoneInfo("America/New_York")
    assert may_call(test, new_york, at("2026-11-25T17:00:00"), hours)  # Wednesday
    assert not may_call(test, new_york, at("2026-11-26T17:00:00"), hours)  # Thanksgiving
    assert not may_call(test, new_york, at("2026-11-29T17:00:00"), hours)  # Sunday
    assert date(2026, 11, 26).weekday() == 3


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "/etc/localtime", "../zoneinfo/UTC"])
def test_a_time_zone_that_names_no_place_is_refused_and_never_called_in(zone: str) -> None:
    """`localtime` is whatever the server's clock says and `Factory` the "-00" of an unset
    system: a calling window read in either wakes customers at night."""
    header = "order_number,phone,contact_ok,time_zone\n"
    with pytest.raises(ImportFailed, match=r"time_zone '.*' is not a time zone name"):
        parse_consent(ImportKind.ORDERS, header + f"1,+1555,yes,{zone}\n", "o.csv")
    assert customer_zone("+14155550123", zone) is None
    assert customer_zone("+14155550123", "America/Los_Angeles") == ZoneInfo("America/Los_Angeles")
    with pytest.raises(ConfigError, match="IVR_TIME_ZONE"):
        Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "IVR_TIME_ZONE": zone})
    hours = load_text(f"hours:\n  timezone: {zone}\n  weekly: {{mon-sun: closed}}\n", "h.yaml")
    with pytest.raises(HoursInvalid, match="unknown time zone"):
        parse_hours(hours.data["hours"], hours, ("hours",))
