"""`ivr phone NUMBER`: a sandbox phone in the terminal (the phone itself is `ivr.sandbox.terminal`)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_phone(args: argparse.Namespace) -> int:
    from ivr.sandbox.terminal import run_terminal_phone

    return run_terminal_phone(args)


def add_parser(sub: Any) -> None:
    phone = sub.add_parser("phone", help="a sandbox phone in this terminal (IVR_TELEPHONY=sandbox)")
    phone.add_argument("number", help="the sandbox number this phone answers (E.164), e.g. +15550100201")
    phone.add_argument("--call", action="store_true", help="call the line at once")
    phone.add_argument("--url", default="", help="the line's server (default http://127.0.0.1:8080)")
    phone.set_defaults(run=cmd_phone)
