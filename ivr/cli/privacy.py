"""`ivr privacy export|erase|purge`: a phone number's data (GDPR), and retention on demand."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from typing import TYPE_CHECKING, Any

from ivr.logs import mask_phone
from ivr.store.backends import Stores, build_stores
from ivr.store.privacy import Erasure, SubjectData, erase_number, export_number

if TYPE_CHECKING:
    from ivr.store.redis import RedisSessionStore
from ivr.cli.common import cli_settings


def _privacy_stores() -> tuple[Stores, RedisSessionStore | None]:
    """The database and, with IVR_SESSION_URL, Redis: a number may sit in a live session too."""
    from ivr.store.redis import RedisSessionStore

    settings = cli_settings()
    stores = build_stores(settings.database_url, settings.session_url)
    sessions = stores.sessions if isinstance(stores.sessions, RedisSessionStore) else None
    return stores, sessions


def cmd_privacy_export(args: argparse.Namespace) -> int:
    """Everything held about a number: a data subject's copy (GDPR art. 15), for a supervisor
    to hand over (`--json`: the whole archive, transcripts and all)."""

    async def export() -> SubjectData:
        stores, sessions = _privacy_stores()
        await stores.open()
        try:
            return await export_number(stores.sql, args.number, sessions)
        finally:
            await stores.close()

    found = asyncio.run(export())
    if args.json:
        print(found.to_json())
        return 0
    print(f"Records about {args.number}:")
    for kind, count in found.counts().items():
        print(f"  {kind.replace('_', ' ')}: {count}")
    for call in found.records["calls"]:
        print(f"\nCall {call['call_sid']} ({call['outcome'] or call['status']}):")
        for entry in call["data"].get("transcript", []):
            print(f"  {entry['who']}: {entry['text']}")
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    """Erase everything held about a number (GDPR art. 17): deleted, or anonymised where the
    insights' counts depend on it; audited as done by `--by` (default: the operating user)."""

    async def erase() -> Erasure:
        stores, sessions = _privacy_stores()
        await stores.open()
        try:
            return await erase_number(stores.sql, args.number, actor=args.by, sessions=sessions)
        finally:
            await stores.close()

    try:
        done = asyncio.run(erase())
    except ValueError as exc:
        print(f"ivr privacy erase: {exc}", file=sys.stderr)
        return 2
    what = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(done.erased.items()))
    print(f"Erased {mask_phone(done.number)}: {what or 'nothing was held'}; {done.files} recording file(s).")
    return 0


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    """Apply each market's retention now (`ivr serve` does it daily): for cron, or to see it work."""
    from ivr.store.retention import Purged, purge
    from ivr.web.startup import load_market_files

    settings = cli_settings()
    markets = load_market_files(settings)
    if markets is None:
        print(
            "ivr privacy purge: IVR_MARKETS is not set, so nothing says how long to keep records"
            " (without markets: ivr calls purge --older-than 90d)",
            file=sys.stderr,
        )
        return 2

    async def run() -> Purged:
        stores = build_stores(settings.database_url)
        await stores.open()
        try:
            return await purge(stores.sql, markets.retention, time.time(), markets.shortest_retention)
        finally:
            await stores.close()

    done = asyncio.run(run())
    print(
        f"Deleted {done.call_records} call record(s) and voicemail(s), {done.recordings} recording(s) and"
        f" {done.survey_answers} survey answer(s); emptied {done.transcripts} transcript(s)."
    )
    return 0


def add_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="a phone number's data: export it, or erase it (GDPR)")
    privacy_sub = privacy.add_subparsers(dest="action", required=True)
    export = privacy_sub.add_parser("export", help="everything held about a number")
    export.add_argument("number", help="the phone number (E.164), e.g. +4915112345678")
    export.add_argument("--json", action="store_true", help="the whole archive as JSON")
    export.set_defaults(run=cmd_privacy_export)
    erase = privacy_sub.add_parser("erase", help="delete or anonymise everything held about a number")
    erase.add_argument("number", help="the phone number (E.164)")
    erase.add_argument("--by", default=getpass.getuser(), help="who asked for it, for the audit log")
    erase.set_defaults(run=cmd_privacy_erase)
    privacy_sub.add_parser(
        "purge", help="apply each market's retention now (ivr serve does it daily)"
    ).set_defaults(run=cmd_privacy_purge)
