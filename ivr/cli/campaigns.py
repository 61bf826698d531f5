"""`ivr campaigns list|enable|pause|run-once|status` and `ivr contacts optout|optin|list`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ivr.cli.common import cli_settings
from ivr.config import Settings
from ivr.importer import is_e164
from ivr.logs import mask_phone

if TYPE_CHECKING:  # the commands import the service when they run: every `ivr` starts faster
    from ivr.hours import BusinessHours
    from ivr.outreach.campaigns import Campaign
    from ivr.outreach.service import Outreach

SettingsSource = Callable[[], Settings]


def _hours(settings: Settings) -> BusinessHours | None:
    from ivr.hours import parse_hours
    from ivr.yamlsource import load_file

    if settings.hours_file is None:
        return None
    doc = load_file(settings.hours_file)
    inside = isinstance(doc.data, dict) and "hours" in doc.data
    return parse_hours(doc.data["hours"] if inside else doc.data, doc, ("hours",) if inside else ())


def _campaigns(settings: Settings) -> dict[str, Campaign]:
    from ivr.outreach.web import check_campaigns

    return check_campaigns(
        settings.campaigns_dir.parent / "flows",
        settings.campaigns_dir.parent / "prompts",
        settings.campaigns_dir,
        settings.language,
        settings.languages,
    )


def _with_outreach(
    settings: Settings, work: Callable[[Outreach], Awaitable[int]], *, dial: bool = False
) -> int:
    from ivr.flow.loader import FlowInvalid
    from ivr.outreach.campaigns import CampaignInvalid
    from ivr.outreach.dialer import TwilioDialer
    from ivr.outreach.service import Outreach, OutreachConfig
    from ivr.store.backends import build_stores

    try:
        campaigns = _campaigns(settings)
    except (CampaignInvalid, FlowInvalid) as exc:
        print(f"ivr campaigns: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        stores = build_stores(settings.database_url)
        await stores.open()
        config = OutreachConfig.from_settings(settings)
        outreach = Outreach(stores.sql, campaigns, config, hours=_hours(settings))
        if dial and settings.account_sid and settings.phone_number and not _sandbox(settings):
            outreach.dialer = TwilioDialer.from_settings(settings)
        try:
            await outreach.store.known(sorted(campaigns))
            return await work(outreach)
        finally:
            if outreach.dialer is not None:
                await outreach.dialer.aclose()
            await stores.close()

    return asyncio.run(run())


def _sandbox(settings: Settings) -> bool:
    """The line runs on the sandbox network, whose account only the server process can reach."""
    from ivr.config import TelephonyMode

    return settings.telephony is TelephonyMode.SANDBOX


def _known(outreach: Outreach, name: str) -> bool:
    if name in outreach.campaigns:
        return True
    print(
        f"ivr campaigns: no campaign '{name}' (known: {', '.join(sorted(outreach.campaigns))})",
        file=sys.stderr,
    )
    return False


def cmd_campaigns(args: argparse.Namespace, settings: SettingsSource) -> int:
    from ivr.outreach.campaigns import summary
    from ivr.outreach.service import campaign_status

    by = f"cli:{getpass.getuser()}"

    async def work(outreach: Outreach) -> int:
        if args.action == "list":
            enabled = await outreach.store.enabled()
            rows = [
                {**summary(c), "enabled": c.name in enabled}
                for c in sorted(outreach.campaigns.values(), key=lambda c: c.name)
            ]
            if args.json:
                print(json.dumps(rows, indent=2))
            for row in [] if args.json else rows:
                state = "on " if row["enabled"] else "off"
                print(
                    f"{state} {row['name']:<20} {row['trigger']:<18} flow {row['flow']:<15} {row['window']}"
                )
            return 0
        if not _known(outreach, args.name):
            return 1
        if args.action in ("enable", "pause"):
            await outreach.store.set_enabled(args.name, args.action == "enable", by, time.time())
            print(f"Campaign {args.name} is {'on' if args.action == 'enable' else 'paused'}.")
            return 0
        if args.action == "status":
            report = await campaign_status(outreach, args.name)
            if args.json:
                print(json.dumps(report, indent=2))
                return 0
            counts: Any = report["counts"]
            scores: Any = report["scores"]
            print(f"{args.name}: {'on' if report['enabled'] else 'paused'}")
            print("  " + ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in counts.items()))
            answers = sum(scores.values())
            if answers:
                spread = ", ".join(f"{n} × {score}" for score, n in scores.items() if n)
                print(f"  {answers} scored, average {report['average']} (out of 5): {spread}")
            else:
                print("  no scores yet")
            return 0
        if outreach.dialer is None:
            # This process has no account to call with. On the sandbox (or the demo, whose
            # settings a second terminal does not have) the running server is the only one that
            # can place calls: say so, rather than ask for Twilio credentials nobody needs.
            no_account = "" if _sandbox(current) else "no Twilio account is set here, so nothing was called. "
            print(
                f"ivr campaigns: {no_account}On the sandbox (`ivr sandbox`, `scripts/demo`) the running"
                " server calls for each enabled campaign every IVR_CAMPAIGN_ROUND seconds: enable the"
                f" campaign (`ivr campaigns enable {args.name}`) and its calls ring the sandbox phones;"
                " the console's Campaigns page says who waits and why. With a real number, set"
                " TWILIO_ACCOUNT_SID and TWILIO_PHONE_NUMBER to call from here.",
                file=sys.stderr,
            )
            return 1
        result = await outreach.run_round(args.name)
        if result.paused:
            print(f"Campaign {args.name} is paused: nothing was called (`ivr campaigns enable {args.name}`).")
            return 0
        print(
            f"Campaign {args.name}: {result.found} new, {len(result.placed)} called, "
            f"{result.refused} refused by Twilio (retried later), "
            f"{result.outside_window} outside their window."
        )
        return 0

    current = settings()
    return _with_outreach(current, work, dial=args.action == "run-once")


def cmd_contacts(args: argparse.Namespace, settings: SettingsSource) -> int:
    if args.action in ("optout", "optin") and not is_e164(args.number):
        print(f"ivr contacts: '{args.number}' is not an E.164 number like +15551234567", file=sys.stderr)
        return 1

    async def work(outreach: Outreach) -> int:
        if args.action == "optout":
            added = await outreach.store.opt_out(args.number, f"cli:{getpass.getuser()}", time.time())
            print(f"{mask_phone(args.number)} {'is now' if added else 'was already'} on the opt-out list.")
        elif args.action == "optin":
            removed = await outreach.store.opt_in(args.number)
            print(f"{mask_phone(args.number)} {'left' if removed else 'was not on'} the opt-out list.")
        else:
            for row in await outreach.store.optouts():
                at = datetime.fromtimestamp(float(row["at"]), UTC).strftime("%Y-%m-%d %H:%M")
                print(f"{row['number']}  since {at} UTC  ({row['source']})")
        return 0

    return _with_outreach(settings(), work)


def add_parser(sub: Any) -> None:
    campaigns = sub.add_parser("campaigns", help="outbound follow-up campaigns (campaigns/*.yaml)")
    campaigns_sub = campaigns.add_subparsers(dest="action", required=True)
    listing = campaigns_sub.add_parser("list", help="every campaign, on or off")
    listing.add_argument("--json", action="store_true")
    for action, text in (
        ("enable", "turn a campaign on"),
        ("pause", "turn a campaign off (calls in progress finish)"),
        ("run-once", "one scheduling round now (for cron or a test)"),
    ):
        sub_parser = campaigns_sub.add_parser(action, help=text)
        sub_parser.add_argument("name")
    status = campaigns_sub.add_parser("status", help="counts by state and the scores")
    status.add_argument("name")
    status.add_argument("--json", action="store_true")
    campaigns.set_defaults(run=lambda args: cmd_campaigns(args, cli_settings))

    contacts = sub.add_parser("contacts", help="the opt-out list every campaign honours")
    contacts_sub = contacts.add_subparsers(dest="action", required=True)
    for action, text in (("optout", "never call this number again"), ("optin", "take a number off the list")):
        sub_parser = contacts_sub.add_parser(action, help=text)
        sub_parser.add_argument("number", help="E.164, like +15551234567")
    contacts_sub.add_parser("list", help="the numbers on the list")
    contacts.set_defaults(run=lambda args: cmd_contacts(args, cli_settings))
