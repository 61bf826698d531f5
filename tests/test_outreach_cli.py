"""`ivr campaigns` and `ivr contacts` as an operator (or cron) runs them, and the consent columns
of `ivr import`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

import pytest

from ivr.demo_dates import dated
from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER
from ivr.sandbox.outbound import running_outbound_account
from ivr.testing.demo_line import ROOT
from tests.outreach_line import JANE, OPTED_OUT, ORDERS, SYDNEY, TODAY, WARRANTIES

pytestmark = pytest.mark.process

TOKEN = "cli-secret"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "IVR_DATA_DIR": str(tmp_path / "data"),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
        "IVR_CAMPAIGNS": str(ROOT / "campaigns"),
    }


async def ivr(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.timeout(300)  # nine `ivr` processes, one after another, on a busy machine
async def test_campaigns_are_off_until_enabled_and_run_once_calls_through_twilio(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The CLI runs on the real clock: the deliveries are dated as if today were the day they
    # describe, or a campaign finds them too old to call about a few weeks later.
    (tmp_path / "orders.csv").write_text(dated(ORDERS, date.today(), demo_day=TODAY))
    (tmp_path / "warranties.csv").write_text(dated(WARRANTIES, date.today(), demo_day=TODAY))
    assert (await ivr("import", "orders", str(tmp_path / "orders.csv"), env=env))[0] == 0
    assert (await ivr("import", "warranties", str(tmp_path / "warranties.csv"), env=env))[0] == 0
    assert (await ivr("contacts", "optout", OPTED_OUT, env=env))[0] == 0

    code, out, _ = await ivr("campaigns", "list", "--json", env=env)
    assert code == 0
    assert {c["name"]: c["enabled"] for c in json.loads(out)} == {
        "delivery-followup": False,
        "repair-followup": False,
        "warranty-expiry": False,
    }
    async with running_outbound_account(TOKEN) as twilio:
        dialing = {
            **env,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_PHONE_NUMBER": LINE_NUMBER,
            "TWILIO_API_BASE": twilio.api_base,
        }
        code, out, _ = await ivr("campaigns", "run-once", "delivery-followup", env=dialing)
        assert code == 0 and "paused: nothing was called" in out
        assert twilio.requests_to("/Calls.json") == []

        assert (await ivr("campaigns", "enable", "delivery-followup", env=env))[0] == 0
        code, out, err = await ivr("campaigns", "run-once", "delivery-followup", env=dialing)
        # Who is inside their window depends on the real clock here (New York or Sydney): the
        # ones who agreed may be called, once each; no consent or opted out, never.
        assert code == 0, err
        called = [r.get("To") for r in twilio.requests_to("/Calls.json")]
        assert set(called) <= {JANE, SYDNEY} and len(called) == len(set(called))
        assert f"{len(called)} called" in out

    code, out, _ = await ivr("campaigns", "status", "delivery-followup", "--json", env=env)
    report = json.loads(out)
    assert report["enabled"] is True
    assert sum(report["counts"].values()) >= 1 and report["scores"]["5"] == 0

    code, out, _ = await ivr("campaigns", "pause", "delivery-followup", env=env)
    assert code == 0 and "paused" in out
    code, out, err = await ivr("campaigns", "enable", "no-such-campaign", env=env)
    assert code == 1 and "no campaign 'no-such-campaign'" in err


async def test_without_an_account_run_once_points_to_the_server_and_status_reads_as_words(
    env: dict[str, str],
) -> None:
    """The demo's step 7 (docs/sandbox.md) from a second terminal, which has none of the demo's settings."""
    code, _, err = await ivr("campaigns", "run-once", "delivery-followup", env=env)
    assert code == 1
    assert "the running server calls for each enabled campaign" in err
    assert "`ivr campaigns enable delivery-followup`" in err
    code, out, _ = await ivr("campaigns", "status", "delivery-followup", env=env)
    assert code == 0
    assert out.splitlines() == [
        "delivery-followup: paused",
        "  0 waiting, 0 calling, 0 answered, 0 machine, 0 no answer, 0 opted out, 0 done, 0 failed",
        "  no scores yet",
    ]


async def test_the_opt_out_list(env: dict[str, str]) -> None:
    assert (await ivr("contacts", "optout", "+15550100001", env=env))[0] == 0
    code, out, _ = await ivr("contacts", "list", env=env)
    assert code == 0 and "+15550100001" in out
    assert "already" in (await ivr("contacts", "optout", "+15550100001", env=env))[1]
    assert (await ivr("contacts", "optin", "+15550100001", env=env))[0] == 0
    assert "+15550100001" not in (await ivr("contacts", "list", env=env))[1]
    code, _, err = await ivr("contacts", "optout", "555-0100", env=env)
    assert code == 1 and "not an E.164 number" in err


async def test_a_bad_contact_ok_refuses_the_whole_file(env: dict[str, str], tmp_path: Path) -> None:
    bad = ORDERS.replace(",no,\n", ",perhaps,\n")
    (tmp_path / "orders.csv").write_text(bad)
    code, _, err = await ivr("import", "orders", str(tmp_path / "orders.csv"), env=env)
    assert code == 1
    assert "orders.csv line 3: contact_ok 'perhaps' must be yes or no" in err
    assert "Nothing was imported." in err


async def test_the_campaign_flows_are_published_and_listed_by_name(env: dict[str, str]) -> None:
    code, out, err = await ivr(
        "flows",
        "publish",
        str(ROOT / "flows" / "followup.yaml"),
        "--name",
        "followup",
        "--note",
        "first",
        env=env,
    )
    assert code == 0, err
    assert "Published version 1" in out and "warning" not in err
    code, out, _ = await ivr("flows", "history", "--name", "followup", env=env)
    assert code == 0 and "first" in out and "Nothing is published yet." not in out
    assert (
        "Nothing is published yet." in (await ivr("flows", "history", "--name", "warranty_offer", env=env))[1]
    )


def test_campaigns_list_reads_only_regular_files(env: dict[str, str], tmp_path: Path) -> None:
    """A directory named `x.yaml` is not a campaign (it gave a traceback), and a FIFO named
    `f.yaml` must not be opened (open() waits for a writer: the list and start-up hung)."""
    import shutil
    import subprocess

    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    for beside in ("flows", "prompts"):  # the campaigns' flows are read next to them
        (tmp_path / beside).symlink_to(ROOT / beside)
    (campaigns / "x.yaml").mkdir()
    os.mkfifo(campaigns / "f.yaml")
    command = [sys.executable, "-m", "ivr", "campaigns", "list", "--json"]
    listed = subprocess.run(
        command, env={**env, "IVR_CAMPAIGNS": str(campaigns)}, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    shipped = sorted(path.stem for path in (ROOT / "campaigns").glob("*.yaml"))
    assert sorted(c["name"] for c in json.loads(listed.stdout)) == shipped
