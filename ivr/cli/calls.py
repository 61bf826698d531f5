"""`ivr calls list|show|callbacks|purge`: the recorded calls, at a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from ivr.cli.common import cli_stores, plain, positive, when
from ivr.logs import mask_phone
from ivr.store.base import CallLog


def cmd_calls(args: argparse.Namespace) -> int:
    async def read() -> int:
        stores = cli_stores()
        await stores.open()
        store = stores.calls
        try:
            if args.action == "callbacks":
                return await _callbacks(store, args.limit)
            if args.action == "list":
                calls = await store.list_calls(args.limit)
                if args.json:
                    print(
                        json.dumps([{**asdict(c), "caller": mask_phone(c.caller)} for c in calls], indent=2)
                    )
                    return 0
                if not calls:
                    print("No calls recorded yet.")
                print(f"{'CALL SID':36} {'STARTED':19} {'CALLER':14} {'STATUS':12} {'OUTCOME':18} TURNS")
                for c in calls:
                    print(
                        f"{plain(c.call_sid):36} {when(c.started_at):19} {plain(mask_phone(c.caller)):14} "
                        f"{plain(c.status):12} {plain(c.outcome) or '-':18} {c.turns}"
                    )
                return 0
            session = await store.get_call(args.call_sid)
            if session is None:
                print(f"ivr calls show: no call {args.call_sid}", file=sys.stderr)
                return 1
            data = asdict(session)
            data["caller"] = mask_phone(session.caller)
            for runtime in ("last_response", "answer", "stored_lines", "whole"):
                data.pop(runtime)
            if args.json:
                print(json.dumps(data, indent=2))
                return 0
            print(
                f"Call {plain(session.call_sid)} from {plain(data['caller'])}"
                f"  started {when(session.started_at)}"
                f"  status {plain(session.status)}  outcome {plain(session.outcome) or '-'}"
            )
            if campaign := session.vars.get("campaign"):
                print(f"Outbound: campaign {plain(campaign)}, flow {plain(session.flow)}")
            print(f"Path: {plain(' -> '.join(session.path))}")
            for entry in session.transcript:
                print(f"  {entry.at:7.1f}s  {plain(entry.who):6} {plain(entry.text)}")
            return 0
        finally:
            await stores.close()

    return asyncio.run(read())


CALLBACK_REQUESTED = "callback_requested"
"""The outcome of a call whose caller asked to be called back (the shipped flow's ending)."""


async def _callbacks(store: CallLog, limit: int) -> int:
    """Call-back requests on a line without an agent desk (which lists its own): when, the
    number unmasked (it is what someone must dial) and why the caller wanted a person."""
    wanted = [c for c in await store.list_calls(limit) if c.outcome == CALLBACK_REQUESTED]
    if not wanted:
        print("No call-back requests.")
        return 0
    print(f"{'REQUESTED':19} {'NUMBER':16} {'REASON':20} CALL SID")
    for c in wanted:
        session = await store.get_call(c.call_sid)
        notes = [e.text for e in session.transcript if e.text.startswith("transfer: ")] if session else []
        reason = notes[-1].removeprefix("transfer: ") if notes else "-"
        at, number = when(c.ended_at or c.started_at), plain(c.caller)
        print(f"{at:19} {number:16} {plain(reason):20} {plain(c.call_sid)}")
    return 0


class _Age(str):
    """An age like '90d', '12h' or '30m' (kept as typed, for messages), with its seconds."""

    seconds: int

    def __new__(cls, text: str) -> _Age:
        units = {"d": 86400, "h": 3600, "m": 60}
        if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < 1:
            raise argparse.ArgumentTypeError(f"'{text}' is not an age like 90d, 12h or 30m")
        age = super().__new__(cls, text)
        age.seconds = int(text[:-1]) * units[text[-1]]
        return age


def cmd_calls_purge(args: argparse.Namespace) -> int:
    async def purge() -> int:
        stores = cli_stores()
        await stores.open()
        try:
            return await stores.calls.purge(time.time() - args.older_than.seconds)
        finally:
            await stores.close()

    removed = asyncio.run(purge())
    print(f"Removed {removed} call record(s) older than {args.older_than}.")
    return 0


def add_parser(sub: Any) -> None:
    calls = sub.add_parser("calls", help="inspect recorded calls")
    calls_sub = calls.add_subparsers(dest="action", required=True)
    listing = calls_sub.add_parser("list", help="recent calls, newest first")
    listing.add_argument("--limit", type=positive, default=50)
    listing.add_argument("--json", action="store_true")
    show = calls_sub.add_parser("show", help="one call's path and transcript")
    show.add_argument("call_sid")
    show.add_argument("--json", action="store_true")
    callbacks = calls_sub.add_parser(
        "callbacks", help="callers who asked to be called back (full numbers: someone must dial them)"
    )
    callbacks.add_argument(
        "--limit", type=positive, default=500, help="how many recent calls to look through"
    )
    calls.set_defaults(run=cmd_calls)
    purge = calls_sub.add_parser("purge", help="delete old call records (retention)")
    purge.add_argument("--older-than", type=_Age, required=True, help="age like 90d, 12h or 30m")
    purge.set_defaults(run=cmd_calls_purge)
