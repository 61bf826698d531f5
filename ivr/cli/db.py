"""`ivr db upgrade`: the schema brought up to date (PostgreSQL; SQLite upgrades itself)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ivr.cli.common import cli_settings
from ivr.store.backends import build_stores


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema up to date (PostgreSQL; SQLite upgrades itself on open)."""
    url = cli_settings().database_url
    if url.startswith("sqlite:"):
        stores = build_stores(url)

        async def touch() -> None:
            await stores.open()
            await stores.close()

        asyncio.run(touch())
        print("SQLite database is up to date (it upgrades itself when opened).")
        return 0
    from ivr.store.backends import postgres_target
    from ivr.store.postgres import upgrade

    base, schema = postgres_target(url)
    applied = asyncio.run(upgrade(base, schema=schema))
    print(
        f"Applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "Database is up to date."
    )
    return 0


def add_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="the database")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_upgrade = db_sub.add_parser("upgrade", help="apply schema migrations (IVR_DATABASE_URL)")
    db_upgrade.set_defaults(run=cmd_db_upgrade)
