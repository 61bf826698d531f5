"""`ivr flows …`: keeping flows in git and deploying them from CI, as an operator runs it."""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, make_settings

pytestmark = pytest.mark.process

WELCOME = "welcome: Thanks for calling Acme after-sales support."
NEW_WELCOME = "welcome: Acme support, deployed from CI."


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    monkeypatch.setenv("IVR_FLOW", str(ROOT / "flows" / "support.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(ROOT / "prompts"))
    return tmp_path / "data"


WELCOME_NEXT = (ROOT / "flows" / "support.yaml").read_text().splitlines().index("    next: find_return") + 1
"""The line of the welcome's `next` (the first state's, so the first such line)."""


def checkout(tmp_path: Path, welcome: str = NEW_WELCOME, name: str = "repo") -> tuple[Path, Path]:
    """A copy of the flow and prompts as a git checkout would hold them, with a new greeting."""
    root = tmp_path / name
    (root / "flows").mkdir(parents=True)
    (root / "prompts").mkdir()
    flow = root / "flows" / "support.yaml"
    flow.write_text((ROOT / "flows" / "support.yaml").read_text())
    for catalogue in (ROOT / "prompts").glob("*.yaml"):  # every language the line ships
        (root / "prompts" / catalogue.name).write_text(catalogue.read_text())
    prompts = (ROOT / "prompts" / "en.yaml").read_text()
    assert WELCOME in prompts
    (root / "prompts" / "en.yaml").write_text(prompts.replace(WELCOME, welcome))
    return flow, root / "prompts"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["flows", *args])
    out, err = capsys.readouterr()
    return code, out, err


def audit(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data / "ivr.db") as conn:
        return conn.execute("SELECT actor, action FROM audit_log ORDER BY at").fetchall()


def test_publish_then_history_with_who_and_why(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "publish", str(ROOT / "flows" / "support.yaml"))
    assert (code, out) == (0, "Published version 1: new calls get it now.\n")
    flow, prompts = checkout(tmp_path)
    code, out, _ = run(
        capsys, "publish", str(flow), "--prompts", str(prompts), "--note", "CI", "--by", "ci-bot"
    )
    assert (code, out) == (0, "Published version 2 (was version 1): new calls get it now.\n")
    code, out, _ = run(capsys, "publish", str(flow), "--prompts", str(prompts))
    assert out == "Version 2 is already published with these files; nothing changed.\n"

    code, out, _ = run(capsys, "history")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["2*", "1"]
    assert rows[0][-2:] == ["ci-bot", "CI"] and rows[1][-1] == f"cli:{getpass.getuser()}"
    assert audit(data) == [(f"cli:{getpass.getuser()}", "publish"), ("ci-bot", "publish")]


def test_an_invalid_publish_names_file_and_line_and_changes_nothing(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "publish", str(ROOT / "flows" / "support.yaml"))
    flow, prompts = checkout(tmp_path)
    flow.write_text(flow.read_text().replace("next: find_return", "next: find_calr"))
    code, out, err = run(capsys, "publish", str(flow), "--prompts", str(prompts))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{flow} line {WELCOME_NEXT}, state 'welcome': next goes to 'find_calr', which is not a state",
        "ivr flows publish: nothing was changed.",
    ]
    good_flow, bad_prompts = checkout(tmp_path, name="other")
    en = bad_prompts / "en.yaml"
    en.write_text(en.read_text() + "  broken: [unclosed\n")
    code, _, err = run(capsys, "publish", str(good_flow), "--prompts", str(bad_prompts))
    assert code == 1 and err.startswith(f"{en} line ") and "not valid YAML" in err
    assert "Traceback" not in err
    _, out, _ = run(capsys, "history")
    assert len(out.splitlines()) == 2  # the header and version 1
    assert audit(data) == [(f"cli:{getpass.getuser()}", "publish")]


def test_diff_shows_what_a_publish_would_change(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "publish", str(ROOT / "flows" / "support.yaml"))
    code, out, _ = run(capsys, "diff")
    assert (code, out) == (0, "")
    flow, prompts = checkout(tmp_path)
    code, out, _ = run(capsys, "diff", "--flow", str(flow), "--prompts", str(prompts))
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == ["--- version 1/prompts/en.yaml", "+++ local/prompts/en.yaml"]
    assert f"-  {WELCOME}" in lines and f"+  {NEW_WELCOME}" in lines


def test_rollback_to_the_previous_or_a_given_version(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "publish", str(ROOT / "flows" / "support.yaml"))
    flow, prompts = checkout(tmp_path)
    run(capsys, "publish", str(flow), "--prompts", str(prompts))
    code, out, _ = run(capsys, "rollback", "--by", "oncall")
    assert (code, out) == (0, "Rolled back: new calls get version 1 (was version 2).\n")
    assert run(capsys, "diff")[0] == 0  # the starting files are published again
    code, out, _ = run(capsys, "rollback", "2")
    assert out == "Rolled back: new calls get version 2 (was version 1).\n"
    code, _, err = run(capsys, "rollback", "7")
    assert (code, err) == (1, "ivr flows rollback: flow 'support' has no version 7\n")
    assert audit(data)[-2:] == [("oncall", "rollback"), (f"cli:{getpass.getuser()}", "rollback")]


def test_export_writes_the_published_files_for_git(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow, prompts = checkout(tmp_path)
    run(capsys, "publish", str(flow), "--prompts", str(prompts))
    target = tmp_path / "export"
    code, out, _ = run(capsys, "export", str(target))
    assert code == 0 and out.splitlines()[-1] == "Exported version 1."
    assert (target / "flows" / "support.yaml").read_text() == flow.read_text()
    assert (target / "prompts" / "en.yaml").read_text() == (prompts / "en.yaml").read_text()
    exported = ("--flow", str(target / "flows" / "support.yaml"), "--prompts", str(target / "prompts"))
    assert run(capsys, "diff", *exported)[0] == 0


async def test_a_publish_from_the_cli_reaches_the_running_line(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    from ivr.web.app import create_app
    from ivr.web.parts import PUBLISHED_CHECK_EVERY

    settings = make_settings(tmp_path)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    assert (await Caller(client).dial_to_menu()).heard[0] == WELCOME.removeprefix("welcome: ")

    flow, prompts = checkout(tmp_path)
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path)}
    env.pop("IVR_DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "flows",
        "publish",
        str(flow),
        "--prompts",
        str(prompts),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0 and b"Published version 2 (was version 1)" in out

    deadline = time.monotonic() + PUBLISHED_CHECK_EVERY + 1
    while (heard := (await Caller(client).dial_to_menu()).heard[0]) != NEW_WELCOME.removeprefix("welcome: "):
        assert time.monotonic() < deadline, f"still hearing {heard!r}"
        await asyncio.sleep(0.1)


def test_a_flow_file_over_256_kb_is_refused_by_validate_and_publish(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistaken path (a log, a dump) must not be parsed whole: refused with a clear line."""
    flow, prompts = checkout(tmp_path)
    flow.write_text(flow.read_text() + "# padding\n" * 30_000)  # valid YAML, ~300 KB
    code, _, err = run(capsys, "validate", str(flow), "--prompts", str(prompts))
    assert code == 1
    assert err.splitlines() == [f"{flow}: is larger than 256 KB; a flow or prompt file is far smaller"]
    code, out, err = run(capsys, "publish", str(flow), "--prompts", str(prompts))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{flow}: is larger than 256 KB; a flow or prompt file is far smaller",
        "ivr flows publish: nothing was changed.",
    ]


def test_history_shows_control_characters_in_a_note_as_escapes(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A note is free text (the console's publish form takes one too): printed raw, ESC [2J
    would clear the operator's terminal and a newline forge a history line."""
    note = "fix\x1b[2J\x1b]0;owned\x07\n      9*  2026-01-01 00:00:00  admin  forged"
    code, _, _ = run(
        capsys, "publish", str(ROOT / "flows" / "support.yaml"), "--note", note, "--by", "ci\x1bbot"
    )
    assert code == 0
    _, out, _ = run(capsys, "history")
    assert "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 2  # the header and version 1: no forged line
    assert "fix\\x1b[2J\\x1b]0;owned\\x07\\x0a" in out and "ci\\x1bbot" in out
