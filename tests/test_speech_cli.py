"""The speech commands as an operator runs them, and start-up without a model."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from tests.test_models import FakeVosk, vosk_site  # noqa: F401  (fixture: a real local model host)

pytestmark = pytest.mark.process


async def run_ivr(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the `ivr` command without blocking the loop that serves the fake model host."""
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
    return process.returncode or 0, out.decode(), err.decode()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "IVR_DATA_DIR": str(tmp_path / "data"),
        "IVR_PROMPTS": str(ROOT / "prompts"),
        **extra,
    }


async def test_install_model_downloads_checks_and_links_it(vosk_site: FakeVosk, tmp_path: Path) -> None:  # noqa: F811
    assert vosk_site.server is not None
    index = str(vosk_site.server.make_url("/vosk/models/model-list.json"))
    env = _env(tmp_path, IVR_VOSK_MODEL_INDEX=index)
    code, out, err = await run_ivr("speech", "install-model", "de", env=env)
    assert code == 0, err
    installed = tmp_path / "data" / "models" / "vosk-model-small-de-0.15"
    assert (installed / "am" / "final.mdl").is_file()
    assert (tmp_path / "data" / "models" / "de").resolve() == installed.resolve()
    assert "100%" in err  # the progress bar reached the end
    assert out.strip().startswith(f"Installed {installed}.")


async def test_install_model_for_an_unknown_language_says_which_exist(
    vosk_site: FakeVosk,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert vosk_site.server is not None
    env = _env(tmp_path, IVR_VOSK_MODEL_INDEX=str(vosk_site.server.make_url("/vosk/models/model-list.json")))
    code, _, err = await run_ivr("speech", "install-model", "xx", env=env)
    assert code == 1
    assert "xx" in err and "de" in err and "ko" in err
    assert not (tmp_path / "data" / "models" / "xx").exists()


async def test_prompts_render_synthesises_every_fixed_prompt(tmp_path: Path) -> None:
    code, out, err = await run_ivr("prompts", "render", env=_env(tmp_path))
    assert code == 0, err
    wavs = list((tmp_path / "data" / "audio").glob("*.wav"))
    assert (
        out.strip() == f"Rendered {len(wavs)} of {len(wavs)} prompts (en) into {tmp_path / 'data' / 'audio'}."
    )
    assert len(wavs) > 20
    assert f"{len(wavs)}/{len(wavs)} prompts (en, voice default)" in err


async def test_local_speech_without_a_model_is_a_loud_error_and_calls_still_work(
    aiohttp_client: Callable[..., Awaitable[object]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_SPEECH="local", IVR_VOSK_MODEL=str(tmp_path / "no-model"))
    await load_demo_data(settings)
    with caplog.at_level(logging.ERROR):
        app = create_app(settings, today=lambda: TODAY)
    message = " ".join(r.getMessage() for r in caplog.records)
    assert f"no Vosk model at {tmp_path / 'no-model'}" in message
    assert "IVR_VOSK_MODEL" in message and "ivr speech install-model en" in message
    client = await aiohttp_client(app)
    turn = await Caller(client).dial_to_menu()  # type: ignore[arg-type]
    assert turn.gather is not None and turn.gather.get("input") == "dtmf speech"
