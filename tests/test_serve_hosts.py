"""`ivr serve --host` with an IPv6 address (issue 24, defect 11): the default PUBLIC_URL is
built from the host and port, and an IPv6 address in a URL needs brackets, else its colons
read as a port ("Port could not be cast to integer value")."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from ivr.config import ConfigError, Settings
from ivr.testing.caller import sign
from ivr.testing.demo_line import ROOT

TOKEN = "ipv6-secret"


def _free_port_v6() -> int:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return int(s.getsockname()[1])
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")


@pytest.mark.process
async def test_serve_on_an_ipv6_host_answers_calls_signed_for_its_bracketed_url(tmp_path: Path) -> None:
    port = _free_port_v6()
    env = {
        key: value
        for key, value in {
            **os.environ,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_DATA_DIR": str(tmp_path),
            "IVR_FLOW": str(ROOT / "flows" / "support.yaml"),
            "IVR_PROMPTS": str(ROOT / "prompts"),
        }.items()
        if key != "PUBLIC_URL"
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "ivr", "serve", "--host", "::1", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://[::1]:{port}"
    try:
        assert server.stdout is not None
        banner = ""
        while "listening" not in banner:
            line = await asyncio.wait_for(server.stdout.readline(), 120)
            assert line, f"ivr serve exited: {(await server.communicate())[1].decode()}"
            banner = line.decode()
        assert f"{base}/voice" in banner and f"listening on {base} " in banner
        params = {"CallSid": "CA" + "6" * 32, "From": "+15550100001", "To": "+15550009999"}
        headers = {
            "X-Twilio-Signature": sign(f"{base}/voice", params, TOKEN),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # the port opens just after the banner
                try:
                    async with http.post(
                        f"{base}/voice", data=urlencode(params), headers=headers
                    ) as response:
                        assert response.status == 200
                        twiml = ET.fromstring(await response.text())
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        gather = twiml.find("Gather")
        assert gather is not None and gather.get("action", "").startswith(f"{base}/voice/turn")
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


def test_a_public_url_with_an_unbracketed_ipv6_address_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"brackets: http://\[::1\]:8080"):
        Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_URL": "http://::1:8080"})
