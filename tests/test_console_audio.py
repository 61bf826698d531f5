"""The console's Listen and test phone never make callers wait.

A supervisor's preview used to share the line's one synthesiser and take text of any length:
one 199,000-character Listen kept a caller's order answer waiting 25 s. The console now has
its own pyttsx3 worker, at a lower CPU priority than the line's, and a length cap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.console.prompt_audio import MAX_SPOKEN, NICENESS
from ivr.store.accounts import Role
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import add_account, console_client, sign_in

LISTEN = "/console/flows/support/listen"


@pytest.fixture
async def local_console(aiohttp_client: Callable, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    settings = make_settings(tmp_path, IVR_TTS="local")
    await load_demo_data(settings)
    app = create_app(settings, today=lambda: TODAY)
    client = await console_client(aiohttp_client, app)
    await add_account(app, "sam", Role.SUPERVISOR, display_name="Sam Supervisor")
    return client, {"X-CSRF-Token": await sign_in(client, "sam")}


def _speech_workers() -> dict[int, int]:
    """This process's pyttsx3 worker processes: pid -> niceness."""
    workers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # it exited while we looked
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"pyttsx3_worker" in command:
            workers[int(entry.name)] = os.getpriority(os.PRIO_PROCESS, int(entry.name))
    return workers


async def test_a_listen_longer_than_the_cap_is_refused_with_the_reason(
    local_console: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = local_console
    response = await client.post(LISTEN, json={"text": "Hello there. " * 400}, headers=headers)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "prompt_too_long"
    assert f"at most {MAX_SPOKEN:,}" in body["error"]


async def test_the_console_speaks_with_its_own_worker_below_the_line(
    local_console: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = local_console
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("1")
    answer = await caller.press("4512")  # the line synthesises the order's details
    assert answer.root.find(".//Play") is not None
    line_workers = _speech_workers()
    assert line_workers  # the line's pool (one worker per core, started as needed)

    response = await client.post(
        LISTEN, json={"text": "A preview only the console asked for."}, headers=headers
    )
    assert response.status == 200, await response.text()
    workers = _speech_workers()
    [console_pid] = set(workers) - set(line_workers)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(workers[pid] == ours for pid in line_workers)
    assert workers[console_pid] == min(19, ours + NICENESS)
