"""IVR_TTS=local: prompts synthesised here (real pyttsx3 / espeak-ng) and played by Twilio."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.speech.audio import decode_wav, rms
from ivr.testing.caller import PUBLIC_URL, STRANGER_PHONE, Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings

pytestmark = pytest.mark.inprocess

AUDIO_URL = re.compile(rf"^{re.escape(PUBLIC_URL)}/audio/[0-9a-f]{{32}}\.wav$")


@pytest.fixture
async def local_client(aiohttp_client: Callable, tmp_path: Path) -> TestClient:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_TTS="local")
    await load_demo_data(settings)
    return await aiohttp_client(create_app(settings, today=lambda: TODAY))


async def _fetch(client: TestClient, url: str) -> tuple[int, float, float]:
    response = await client.get(url.removeprefix(PUBLIC_URL))
    assert response.status == 200
    assert response.content_type == "audio/wav"
    samples, rate = decode_wav(await response.read())
    return rate, len(samples) / rate, rms(samples)


async def test_prompts_are_played_from_locally_synthesised_phone_audio(local_client: TestClient) -> None:
    caller = Caller(local_client, phone=STRANGER_PHONE)  # not on file: welcome and main menu
    turn = await caller.dial()
    assert turn.root.find(".//Say") is None
    plays = [el.text or "" for el in turn.root.iter("Play")]
    assert len(plays) == 2 and all(AUDIO_URL.match(url) for url in plays)
    # Both prompts sit inside the Gather: a caller can press a key while they play.
    assert turn.gather is not None and len(turn.gather.findall("Play")) == 2
    greeting = await _fetch(local_client, plays[0])
    menu = await _fetch(local_client, plays[1])
    assert greeting[0] == menu[0] == 8000
    assert 1.0 < greeting[1] < 6.0 and greeting[2] > 300
    assert menu[1] > 5.0 and menu[2] > 300
    await caller.press("4")
    answer = await caller.press("1")
    (returns, *_) = [el.text or "" for el in answer.root.iter("Play")]
    # The 270-character returns answer is far past the length where pyttsx3 has been seen to
    # write nothing: it must be all there (about 17 s of speech), not silent, not cut short.
    long = await _fetch(local_client, returns)
    assert long[1] > 12.0 and long[2] > 300


async def test_dynamic_prompts_with_order_details_are_synthesised_on_demand(local_client: TestClient) -> None:
    caller = Caller(local_client)
    await caller.dial_to_menu()
    await caller.press("1")
    turn = await caller.press("4512")
    plays = [el.text or "" for el in turn.root.iter("Play")]
    assert len(plays) == 3  # "Thanks, Jane Doe." + status + what next
    _, seconds, loudness = await _fetch(local_client, plays[1])
    assert seconds > 5.0 and loudness > 300


async def test_the_same_prompt_is_served_from_the_cache(local_client: TestClient) -> None:
    first = await Caller(local_client).dial_to_menu()
    second = await Caller(local_client).dial_to_menu()
    assert [el.text for el in first.root.iter("Play")] == [el.text for el in second.root.iter("Play")]


async def test_a_failing_synthesiser_falls_back_to_say_never_silence(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_TTS="local", IVR_TTS_VOICE="no-such-voice-xx")
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    turn = await Caller(client, phone=STRANGER_PHONE).dial()
    assert turn.root.find(".//Play") is None
    assert turn.heard[0] == "Thanks for calling Acme after-sales support."
    assert turn.gather is not None and len(turn.gather.findall("Say")) == 2


async def test_audio_route_refuses_unknown_and_malformed_ids(local_client: TestClient) -> None:
    for path in ("/audio/" + "0" * 32 + ".wav", "/audio/..%2F..%2Fetc%2Fpasswd.wav", "/audio/.key.wav"):
        response = await local_client.get(path)
        assert response.status == 404, path


async def test_unused_recordings_are_pruned_and_made_again_when_needed(tmp_path: Path) -> None:
    import os
    import time

    from ivr.speech.cache import PromptAudioCache
    from ivr.speech.tts import Pyttsx3Synthesizer

    async with Pyttsx3Synthesizer() as synthesizer:
        cache = PromptAudioCache(tmp_path, synthesizer, b"k" * 32)
        old = await cache.audio_id("Order 1 2 3 4 has shipped.")
        fresh = await cache.audio_id("Thanks for calling.")
        path = cache.path_for(old)
        assert path is not None
        day_ago = time.time() - 2 * 86400
        os.utime(path, (day_ago, day_ago))
        assert await cache.prune(86400) == 1
        assert cache.path_for(old) is None and cache.path_for(fresh) is not None
        assert await cache.audio_id("Order 1 2 3 4 has shipped.") == old
        assert cache.path_for(old) is not None
