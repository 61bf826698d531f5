"""The `ivr` command: serve the line, import data, inspect calls, change flows, call the line.

One module per command group, each with an `add_parser(sub)`; `build_parser` only puts
the groups together. A command imports what it runs when it runs (the server, the flow
compiler, the speech engines), so every `ivr` starts quickly and `ivr --help` needs none
of them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ivr.cli import (
    accounts,
    call,
    calls,
    campaigns,
    db,
    flows,
    guides,
    importing,
    phone,
    privacy,
    prompts,
    repairs,
    serve,
    sources,
    speech,
    stats,
)
from ivr.config import ConfigError

GROUPS = (
    serve,
    importing,
    calls,
    privacy,
    repairs,
    call,
    phone,
    prompts,
    speech,
    db,
    accounts,
    campaigns,
    sources,
    stats,
    flows,
    guides,
)
"""The command groups, in the order `ivr --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="Automated after-sales phone support line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
