"""Dates at the ends of the calendar (issue 24, defect 7): a period is a day range whose ends
become instants (local midnights), and the day after 9999-12-31 does not exist. The
console and `ivr stats` refuse such a day with a 400 or a usage message, never a traceback,
and the last day they accept works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.console.insights import TABLES
from ivr.insights.days import LAST_DAY
from ivr.store.accounts import Role
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import add_account, console_client, sign_in


async def test_insights_and_their_csvs_refuse_days_past_the_calendar_and_serve_its_last(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "sam", Role.SUPERVISOR)
    assert await sign_in(client, "sam")
    pages = ["/console/insights", *(f"/console/insights/export/{table}.csv" for table in TABLES)]
    for path in pages:
        for query in (
            {"until": "9999-12-31"},
            {"since": "9999-12-31", "until": "9999-12-31"},
            {"since": "0001-01-01"},
        ):
            response = await client.get(path, params=query)
            assert response.status == 400, f"{path} {query}: {response.status} {await response.text()}"
            assert "YYYY-MM-DD" in await response.text()
        last = await client.get(path, params={"since": "9999-12-01", "until": LAST_DAY.isoformat()})
        assert last.status == 200, f"{path}: {last.status} {await last.text()}"


@pytest.mark.process
def test_ivr_stats_at_the_end_of_the_calendar_says_why_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path)}

    def stats(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ivr", "stats", "--json", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    refused = stats("--since", "9999-12-01", "--until", "9999-12-31")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "9999-12-31" in refused.stderr and "YYYY-MM-DD" in refused.stderr
    last = stats("--since", "9999-12-01", "--until", LAST_DAY.isoformat())
    assert last.returncode == 0 and "Traceback" not in last.stderr, last.stderr
