"""Campaigns as data: `campaigns/*.yaml`, checked like flows before anything is called.

A campaign names what starts it (a delivered order, a closed repair, a warranty about to
end), how long after (or before) that to call, when a customer may be called (their local
time), how often to try and how many calls to make at once and per day, and the flow that
holds the conversation. A file that cannot work (an unknown trigger, a window that closes
before it opens, a flow that does not exist) is refused whole with its file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any

from ivr.yamlsource import Document, SourceError, load_file

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


INBOUND_SURVEY_TRIGGER = "after_inbound_call"
"""Not a trigger: the survey after inbound calls is a setting. A campaign file naming it is
told where the switch is."""


class Trigger(StrEnum):
    ORDER_DELIVERED = "order_delivered"
    """An order whose status is `delivered`; its date is the order's `eta` (when it arrived)."""
    REPAIR_CLOSED = "repair_closed"
    """A repair `closed` or `shipped_back`; its date is the repair's `updated_on`."""
    WARRANTY_EXPIRING = "warranty_expiring"
    """A warranty's `expires_on`; `delay_days` counts days *before* it."""


@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    source: str
    trigger: Trigger
    flow: str
    """The flow in `flows/` that holds the conversation (`followup`, `warranty_offer`)."""
    delay_days: int
    """Days after the event before the first call (before it, for `warranty_expiring`)."""
    window_from: time
    """Customers are called from this local time ..."""
    window_to: time
    """... up to this one, in their own time zone."""
    attempts: int
    """Calls at most per customer and event (no answer, busy, Twilio refusing all count)."""
    spacing_hours: float
    """Hours between two attempts."""
    daily_cap: int
    """Calls placed per day at most (UTC days)."""
    concurrent_cap: int
    """Calls in progress at once at most."""
    max_age_days: int
    """Events whose first call fell due longer ago than this are let go (a campaign switched
    on today does not call about last year's deliveries)."""
    machine_prompt: str
    """What an answering machine hears after the beep (a prompt id)."""


class CampaignInvalid(ValueError):
    """A campaign file that cannot work; each problem names the file and line."""

    def __init__(self, problems: list[SourceError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_FIELDS = {
    "campaign",
    "trigger",
    "flow",
    "delay_days",
    "window",
    "attempts",
    "spacing_hours",
    "daily_cap",
    "concurrent_cap",
    "max_age_days",
    "machine_prompt",
}


def parse_campaign(doc: Document, flows: Iterable[str], prompts: Iterable[str] | None = None) -> Campaign:
    """Check one campaign document against the flows there are (and the prompt ids, if given)."""
    problems: list[SourceError] = []
    data = doc.data
    if not isinstance(data, dict):
        raise CampaignInvalid([doc.error((), "a campaign file is a mapping (campaign:, trigger:, ...)")])

    def fail(key: str, message: str) -> None:
        problems.append(doc.error((key,), message))

    for key in data:
        if key not in _FIELDS:
            fail(key, f"unknown setting '{key}'; allowed: {', '.join(sorted(_FIELDS))}")
    name = str(data.get("campaign", ""))
    if not _NAME.fullmatch(name):
        fail("campaign", "'campaign' must be a name like delivery-followup (lower case, digits, -)")
    raw_trigger = str(data.get("trigger", ""))
    trigger = Trigger.ORDER_DELIVERED
    try:
        trigger = Trigger(raw_trigger)
    except ValueError:
        known = ", ".join(t.value for t in Trigger)
        if raw_trigger == INBOUND_SURVEY_TRIGGER:
            fail(
                "trigger",
                f"the survey after inbound calls is IVR_INBOUND_SURVEY=on, not a campaign; one of {known}",
            )
        else:
            fail("trigger", f"unknown trigger '{raw_trigger}'; one of {known}")
    flow = str(data.get("flow", ""))
    known_flows = set(flows)
    if flow not in known_flows:
        fail("flow", f"flow '{flow}' does not exist; the flows are: {', '.join(sorted(known_flows))}")

    def number(key: str, default: float, low: float, high: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            fail(key, f"'{key}' must be a number from {low:g} to {high:g}, got {value!r}")
            return default
        return float(value)

    window_from, window_to = time(9, 0), time(20, 0)
    window = data.get("window", {"from": "09:00", "to": "20:00"})
    if not isinstance(window, dict) or set(window) != {"from", "to"}:
        fail("window", "'window' needs 'from' and 'to' local times like 10:00")
    else:
        times: list[time] = []
        for key in ("from", "to"):
            match = _CLOCK.fullmatch(str(window[key]))
            if match is None:
                problems.append(doc.error(("window", key), f"'{window[key]}' is not a time like 10:00"))
                continue
            times.append(time(int(match.group(1)), int(match.group(2))))
        if len(times) == 2:
            window_from, window_to = times
            if window_to <= window_from:
                problems.append(
                    doc.error(
                        ("window",),
                        f"impossible window: it closes at {window_to:%H:%M} before it opens at "
                        f"{window_from:%H:%M}",
                    )
                )
    machine_prompt = str(data.get("machine_prompt", f"{flow}_machine"))
    if prompts is not None and machine_prompt not in set(prompts):
        fail("machine_prompt", f"prompt '{machine_prompt}' does not exist (the answering machine message)")
    campaign = Campaign(
        name=name,
        source=doc.source,
        trigger=trigger,
        flow=flow,
        delay_days=int(number("delay_days", 3, 0, 365)),
        window_from=window_from,
        window_to=window_to,
        attempts=int(number("attempts", 3, 1, 10)),
        spacing_hours=number("spacing_hours", 4, 0.25, 168),
        daily_cap=int(number("daily_cap", 200, 1, 100_000)),
        concurrent_cap=int(number("concurrent_cap", 5, 1, 1000)),
        max_age_days=int(number("max_age_days", 14, 1, 365)),
        machine_prompt=machine_prompt,
    )
    if problems:
        raise CampaignInvalid(problems)
    return campaign


def load_campaigns(
    directory: Path, flows: Iterable[str], prompts: Iterable[str] | None = None
) -> dict[str, Campaign]:
    """Every `*.yaml` file in `directory`, checked; the first bad file refuses them all.

    Only regular files: a directory named `x.yaml` is not a campaign, and opening a FIFO
    named `f.yaml` would wait for a writer for ever (start-up and `ivr campaigns list` hung)."""
    known = list(flows)
    names = list(prompts) if prompts is not None else None
    campaigns: dict[str, Campaign] = {}
    for path in sorted(path for path in directory.glob("*.yaml") if path.is_file()):
        try:
            doc = load_file(path)
        except SourceError as exc:
            raise CampaignInvalid([exc]) from None
        campaign = parse_campaign(doc, known, names)
        if campaign.name in campaigns:
            raise CampaignInvalid(
                [doc.error(("campaign",), f"campaign '{campaign.name}' is also defined in another file")]
            )
        campaigns[campaign.name] = campaign
    return campaigns


def flow_names(flows_dir: Path) -> list[str]:
    """The flows a campaign may name: the files in `flows/`."""
    return sorted(path.stem for path in flows_dir.glob("*.yaml") if path.is_file())


def summary(campaign: Campaign) -> Mapping[str, Any]:
    """The settings as plain data (`ivr campaigns list --json`, the console)."""
    return {
        "name": campaign.name,
        "trigger": campaign.trigger.value,
        "flow": campaign.flow,
        "delay_days": campaign.delay_days,
        "window": f"{campaign.window_from:%H:%M}-{campaign.window_to:%H:%M}",
        "attempts": campaign.attempts,
        "spacing_hours": campaign.spacing_hours,
        "daily_cap": campaign.daily_cap,
        "concurrent_cap": campaign.concurrent_cap,
    }
