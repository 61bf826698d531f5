"""`ivr sources check FILE` and `ivr sources test KIND KEY`: a sources file before it takes calls.

`check` reads the file as the server will (file, line, reason) and says, for each kind of
record, where it will come from and which environment variables it needs. `test` makes
one real lookup and shows what the line would see: each request with its status and time,
the raw answer, the record it maps to, and the whole time against the budget. It prints the
source's answer on purpose (the operator asked for it, at a terminal); the logs never do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ivr.cli.common import cli_settings
from ivr.config import ConfigError, Settings
from ivr.sources.client import HttpSources, Outcome
from ivr.sources.spec import KINDS, SourcesSpec, base_env, load_sources
from ivr.store.base import SourceUnavailable
from ivr.yamlsource import SourceError

BODY_SHOWN = 4000
"""Characters of a raw answer printed; the rest is summarised (a record is far shorter)."""


def add_parser(sub: Any) -> None:
    sources = sub.add_parser(
        "sources", help="where lookups read orders, repairs and warranties (IVR_SOURCES)"
    )
    sources_sub = sources.add_subparsers(dest="action", required=True)
    check = sources_sub.add_parser("check", help="validate a sources file and say what each kind reads")
    check.add_argument("file")
    check.set_defaults(run=cmd_check)
    test = sources_sub.add_parser("test", help="one real lookup: raw answer, mapped record, time")
    test.add_argument("kind", choices=KINDS)
    test.add_argument("key", help="the order, ticket or serial number; for customers, the phone number")
    test.add_argument("--file", default="", help="the sources file (default: IVR_SOURCES)")
    test.set_defaults(run=lambda args: cmd_test(args, cli_settings))


def _load(path: Path) -> SourcesSpec | None:
    try:
        return load_sources(path)
    except SourceError as exc:
        print(f"ivr sources: {exc}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    spec = _load(Path(args.file))
    if spec is None:
        return 1
    print(f"{args.file}: valid")
    for kind in KINDS:
        names = [n for n in spec.lookups if n.split(".")[0] == kind]
        if not names:
            print(f"  {kind:<17} local (the tables `ivr import` fills)")
        for name in names:
            lookup = spec.lookups[name]
            urls = " → ".join(f"{r.method} {r.url}" for r in lookup.requests)
            print(f"  {name:<17} http {lookup.base_url}: {urls} (budget {lookup.timeout:g} s)")
    missing = [name for name in [*base_env(spec), *spec.env_needed()] if not os.environ.get(name)]
    for name in missing:
        print(f"  needs {name}: not set in this environment")
    return 0


def cmd_test(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    path = Path(args.file) if args.file else settings().sources_file
    if path is None:
        raise ConfigError("IVR_SOURCES is not set and no --file given: every kind reads the local tables")
    spec = _load(path)
    if spec is None:
        return 1
    names = [n for n in spec.lookups if n.split(".")[0] == args.kind]
    if not names:
        print(f"{args.kind}: local in {path} (the tables `ivr import` fills); nothing to test over HTTP")
        return 1
    sources = HttpSources(spec)
    return asyncio.run(_test(sources, names, args.key))


async def _test(sources: HttpSources, names: list[str], key: str) -> int:
    failed = 0
    await sources.open()
    try:
        for name in names:
            trace = Outcome()
            budget = sources.spec.lookups[name].timeout
            try:
                await sources.look_up(name, key, trace)
            except SourceUnavailable:
                failed += 1
            for exchange in trace.exchanges:
                took = f"{exchange.seconds * 1000:.0f} ms"
                print(f"{exchange.method} {exchange.url} → {exchange.status} in {took}")
                print(_shown(exchange.body))
            if trace.problem:
                print(f"{name}: FAILED: {trace.problem}")
            elif not trace.records:
                print(f"{name}: not found (the caller hears it is not on file)")
            for record in trace.records:
                fields = {
                    k: (v.isoformat() if hasattr(v, "isoformat") else str(v))
                    for k, v in asdict(record).items()
                }
                print(f"{name}: mapped {type(record).__name__.lower()}:")
                for field, value in fields.items():
                    print(f"  {field:<16} {value}")
            print(f"{name}: {trace.seconds * 1000:.0f} ms of a {budget:g} s budget")
    finally:
        await sources.close()
    return 1 if failed else 0


def _shown(body: str) -> str:
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        text = body
    if len(text) > BODY_SHOWN:
        return text[:BODY_SHOWN] + f"\n… ({len(text) - BODY_SHOWN} more characters)"
    return text
