"""`ivr import KIND FILE`: orders, warranties or repairs from a CSV file, all or nothing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ivr.cli.common import cli_settings, cli_stores
from ivr.importer import ImportFailed, ImportKind, parse_file
from ivr.outreach.consent import parse_consent
from ivr.outreach.store import OutreachStore
from ivr.records import Order
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.yamlsource import SourceError


def cmd_import(args: argparse.Namespace) -> int:
    kind = ImportKind(args.kind)
    try:
        records = parse_file(kind, Path(args.file))
        # contact_ok and time_zone (optional): who campaigns may call, and in which time zone.
        consent = parse_consent(kind, Path(args.file).read_text(encoding="utf-8-sig"), args.file)
    except ImportFailed as exc:
        print(f"ivr import: {exc}\nNothing was imported.", file=sys.stderr)
        return 1

    async def write() -> int:
        stores = cli_stores()
        await stores.open()
        try:
            count = await stores.repository.upsert(records)
            if consent:
                await OutreachStore(stores.sql).save_consent(kind.value, consent)
            spoken = {o.phone: o.language for o in records if isinstance(o, Order) and o.language}
            if spoken:  # greet these customers in their language from their first call
                await SqlCallerLanguages(stores.sql).import_orders(spoken)
            return count
        finally:
            await stores.close()

    count = asyncio.run(write())
    print(f"Imported {count} {kind.value} from {args.file}.")
    for warning in _unreachable(kind, records):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


_KEY_FIELD = {
    ImportKind.ORDERS: "order_number",
    ImportKind.WARRANTIES: "serial_number",
    ImportKind.REPAIRS: "ticket_number",
}


def _unreachable(kind: ImportKind, records: Sequence[object]) -> list[str]:
    """Numbers the current flow will not accept from a caller's keypad (too short or long).

    The data is still imported (the flow may change); the operator is told now rather
    than by a caller who can never get through.
    """
    from ivr.flow.loader import FlowInvalid, load_flow
    from ivr.flow.schema import GatherState
    from ivr.prompts import load_catalogs

    settings = cli_settings()
    try:
        catalogs = load_catalogs(settings.prompts_dir)
        flow, _ = load_flow(settings.flow_file, catalogs)
    except (FlowInvalid, SourceError):
        return []
    field = _KEY_FIELD[kind]
    out = []
    for gather in flow.states.values():
        if isinstance(gather, GatherState) and gather.save_as == field:
            bad = [
                str(getattr(r, field))
                for r in records
                if not gather.min_digits <= len(str(getattr(r, field))) <= gather.max_digits
            ]
            if bad:
                shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
                out.append(
                    f"{field} {shown} cannot be keyed in by callers: the flow's state '{gather.name}' "
                    f"takes {gather.min_digits} to {gather.max_digits} digits "
                    f"({len(bad)} of {len(records)} {kind.value})"
                )
    return out


def add_parser(sub: Any) -> None:
    imp = sub.add_parser("import", help="load orders, warranties or repairs from a CSV file (all or nothing)")
    imp.add_argument("kind", choices=[k.value for k in ImportKind])
    imp.add_argument("file")
    imp.set_defaults(run=cmd_import)
