"""What every `ivr` command shares: the operator's settings and database, and how stored
text and times are shown at a terminal."""

from __future__ import annotations

import argparse
import re
from datetime import datetime

from ivr.config import Settings
from ivr.store.backends import Stores, build_stores


def cli_settings() -> Settings:
    """The settings of an operator's command: the same as the server's, but no webhook
    secret is needed. A bad setting is a `ConfigError`, reported by `main`."""
    return Settings.from_env(serving=False)


def cli_stores() -> Stores:
    """The database the operator's commands read and write (live Redis sessions aside)."""
    return build_stores(cli_settings().database_url)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Stored text with control characters shown as escapes (``\\x1b``), never sent raw.

    What a caller said, or a record imported before controls were refused, must not
    clear an operator's screen, retitle the terminal or ring its bell."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)
