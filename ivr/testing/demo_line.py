"""The shipped line with the demo data, as the tests and the benchmarks start it.

Both need the same settings (the shipped flow and prompts, a webhook secret the test
caller signs with, a data directory of their own) and the same demo orders, repairs and
warranties, dated as the demo's day. Kept here, not in `tests/conftest.py`, so a benchmark
does not import the test suite to get them.
"""

from __future__ import annotations

from pathlib import Path

from ivr.config import Settings
from ivr.demo_dates import DEMO_DAY
from ivr.importer import ImportKind, parse_file
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository
from ivr.testing.caller import PUBLIC_URL, TOKEN

ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository: flows/, prompts/, demo/ and tests/ are read from here."""
TODAY = DEMO_DAY
"""The day the demo data describes; the line speaks as if it were this day."""
DEMO = ROOT / "demo"


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """The shipped flow and prompts on a database in `tmp_path`; `env` adds or overrides settings."""
    base = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_URL": PUBLIC_URL,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
    }
    return Settings.from_env({**base, **env})


async def load_demo_data(settings: Settings) -> None:
    """The demo's orders, repairs and warranties in the settings' SQLite database."""
    db = SQLiteDatabase(Path(settings.database_url.removeprefix("sqlite:///")))
    repo = SQLiteRepository(db)
    for kind in ImportKind:
        await repo.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await db.close()
