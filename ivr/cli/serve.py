"""`ivr serve` and `ivr sandbox`: the line's server, alone or with the sandbox telephone network."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ivr.cli.common import positive


def cmd_serve(args: argparse.Namespace) -> int:
    from ivr.web.serve import ServeOptions, serve

    return serve(ServeOptions(args.host, args.port, args.workers, args.log_level, args.log_format))


def cmd_sandbox(args: argparse.Namespace) -> int:
    """`ivr serve` with the sandbox telephone network in the same process."""
    os.environ["IVR_TELEPHONY"] = "sandbox"
    return cmd_serve(args)


def add_parser(sub: Any) -> None:
    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--host", default="127.0.0.1")
    serving.add_argument("--port", type=int, default=8080)
    serving.add_argument(
        "--workers",
        type=positive,
        default=1,
        help="processes sharing the port (SO_REUSEPORT) and the database; one per core (default 1)",
    )
    serving.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serving.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text for people (default), or json: one object a line, for log collectors",
    )
    sub.add_parser("serve", parents=[serving], help="run the webhook server Twilio calls").set_defaults(
        run=cmd_serve
    )
    sub.add_parser(
        "sandbox",
        parents=[serving],
        help="`serve` with the sandbox telephone network in the same process (no real calls)",
    ).set_defaults(run=cmd_sandbox)
