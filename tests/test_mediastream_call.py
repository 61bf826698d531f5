"""Turn-taking over a media stream: a whole `StreamCall`, with no socket, no synthesiser, no Vosk.

The call talks to a fake websocket driven like Twilio's edge (messages in, messages out),
hears prompts from fake clips and listens through a fake recogniser that implements
`ivr.speech.asr.Recognizer` and answers what each test scripts. Everything else is real: the
Media Streams protocol, the endpointer, the flow engine and the session store. Time is
counted in 20 ms frames sent, as the endpointer counts it, so nothing here waits on a
clock; the timeouts below only turn a hang into a failure.

The real Vosk path is tested in test_vosk_asr.py and, end to end, in test_stream_calls.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMessage, WSMsgType

from ivr.handoff import DialHandOff
from ivr.line import STREAM_FAILURES, SupportLine, stream_token
from ivr.mediastream.call import StreamCall, StreamSpeech
from ivr.metrics import Metrics
from ivr.session import CallSession
from ivr.speech import audio
from ivr.speech.asr import RecognitionError, RecognitionErrorCode, Transcript
from ivr.speech.vad import EndpointConfig
from ivr.store.sqlite import SQLiteDatabase, SQLiteSessionStore
from tests.small_flow import OneVersion, said, small_engine

CALL_SID = "CA" + "5" * 32
STREAM_SID = "MZ" + "7" * 32
SECRET = b"harness-secret"
FRAME = 160
SILENCE = b"\xff" * FRAME
"""20 ms of mu-law digital silence."""
PROMPT_FRAMES = 25
"""Every fake prompt is half a second of audio."""
MENU_TIMEOUT_FRAMES = 6 * 50
"""The small flow's menu waits six seconds for an answer."""
PAUSE_FRAMES = 40
"""Longer than the endpointer's 700 ms end-of-utterance pause."""


def voice(frames: int) -> bytes:
    """A caller talking: a loud 300 Hz tone for `frames` 20 ms frames, as mu-law."""
    t = np.arange(frames * FRAME) / 8000
    return audio.ulaw_encode((8000 * np.sin(2 * math.pi * 300 * t)).astype(np.int16))


class FakeSocket:
    """The line's side of the websocket without a socket: what Twilio sends in, what the line sends out."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | None] = asyncio.Queue()
        self.outbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_str(self, data: str, compress: int | None = None) -> None:
        assert not self._closed, "the line wrote to a closed stream"
        self.outbound.put_nowait(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        if self._closed:
            return False
        self._closed = True
        self.inbound.put_nowait(None)
        self.outbound.put_nowait({"event": "closed"})
        return True

    def __aiter__(self) -> AsyncIterator[WSMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[WSMessage]:
        while (text := await self.inbound.get()) is not None:
            yield WSMessage(WSMsgType.TEXT, text, None)


class FakeClips:
    """Prompts as half a second of audio each; remembers what the line asked to say."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def get(self, text: str) -> bytes:
        self.texts.append(text)
        return SILENCE * PROMPT_FRAMES


class FakeRecognizer:
    """A recogniser that hears whatever the test scripted, one answer per utterance."""

    def __init__(self, answers: deque[str | RecognitionError], grammar: Sequence[str] | None) -> None:
        self.answers = answers
        self.grammars: list[tuple[str, ...] | None] = [tuple(grammar) if grammar is not None else None]
        self.audio_bytes = 0

    async def accept(self, pcm: bytes) -> Transcript | None:
        self.audio_bytes += len(pcm)
        return None

    async def finish(self) -> Transcript:
        if not self.answers:
            return Transcript("", 0.0, partial=False)
        answer = self.answers.popleft()
        if isinstance(answer, RecognitionError):
            raise answer
        return Transcript(answer, 0.9, partial=False)

    async def settle(self) -> Transcript:
        return Transcript("", 0.0, partial=False)  # nothing known before the end: the long pause

    def set_grammar(self, phrases: Sequence[str] | None) -> None:
        self.grammars.append(tuple(phrases) if phrases is not None else None)


class FakeRecognizers:
    """The `RecognizerFactory` of the harness: every recogniser shares one script of answers."""

    def __init__(self, *answers: str | RecognitionError) -> None:
        self.answers: deque[str | RecognitionError] = deque(answers)
        self.made: list[FakeRecognizer] = []

    async def recognizer(
        self, sample_rate: int = 8000, grammar: Sequence[str] | None = None
    ) -> FakeRecognizer:
        assert sample_rate == 8000
        made = FakeRecognizer(self.answers, grammar)
        self.made.append(made)
        return made


class Twilio:
    """Twilio's edge for one call: sends the caller's audio and keys, plays (and marks) the line's."""

    def __init__(self, socket: FakeSocket) -> None:
        self.socket = socket
        self.sequence = 0
        self.chunk = 0
        self.pending_marks: list[str] = []
        """Marks sent by the line whose audio has not been played yet."""
        self.cleared = 0
        """How many times the line cut its prompt short (barge-in)."""
        self.closed = False

    def send(self, event: str, **body: object) -> None:
        self.sequence += 1
        message = {"event": event, "sequenceNumber": str(self.sequence), "streamSid": STREAM_SID, **body}
        self.socket.inbound.put_nowait(json.dumps(message))

    def start(self, token: str) -> None:
        self.socket.inbound.put_nowait(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        self.send(
            "start",
            start={
                "streamSid": STREAM_SID,
                "accountSid": "AC" + "0" * 32,
                "callSid": CALL_SID,
                "tracks": ["inbound"],
                "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )

    def audio(self, mulaw: bytes) -> None:
        for offset in range(0, len(mulaw), FRAME):
            self.chunk += 1
            payload = base64.b64encode(mulaw[offset : offset + FRAME]).decode()
            media = {"track": "inbound", "chunk": str(self.chunk), "timestamp": str(self.chunk * 20)}
            self.send("media", media={**media, "payload": payload})

    def silence(self, frames: int) -> None:
        self.audio(SILENCE * frames)

    def dtmf(self, digit: str) -> None:
        self.send("dtmf", dtmf={"track": "inbound_track", "digit": digit})

    def hang_up(self) -> None:
        self.send("stop", stop={"accountSid": "AC" + "0" * 32, "callSid": CALL_SID})

    async def prompts(self, count: int) -> None:
        """Wait until the line has queued `count` more prompts (each ends with a mark)."""
        marks = 0
        while marks < count:
            message = await self._next()
            if message["event"] == "mark":
                self.pending_marks.append(message["mark"]["name"])
                marks += 1
            assert message["event"] in ("media", "mark"), f"expected prompt audio, got {message}"

    def played(self) -> None:
        """The caller has heard everything queued: echo its marks, as Twilio does."""
        for name in self.pending_marks:
            self.send("mark", mark={"name": name})
        self.pending_marks.clear()

    async def cut_short(self) -> None:
        """Wait for the line's `clear`; Twilio drops the queued audio and echoes its marks."""
        message = await self._next()
        assert message["event"] == "clear", f"expected the prompt to be cut short, got {message}"
        self.cleared += 1
        self.played()

    async def stream_closed(self) -> None:
        """Wait until the line closes the stream (handing the call back to TwiML)."""
        while not self.closed:
            message = await self._next()
            if message["event"] == "mark":
                self.pending_marks.append(message["mark"]["name"])
                self.played()

    async def _next(self) -> dict[str, Any]:
        async with asyncio.timeout(10):  # a guard against hanging, not a timing assumption
            message = await self.socket.outbound.get()
        if message["event"] == "closed":
            self.closed = True
        return message


class Harness:
    """One call over fake media streams, its session in a real SQLite store."""

    def __init__(self, db: SQLiteDatabase, recognizers: FakeRecognizers) -> None:
        self.sessions = SQLiteSessionStore(db)
        self.engine = small_engine()
        self.flows = OneVersion(self.engine)
        self.clips = FakeClips()
        self.recognizers = recognizers
        self.metrics = Metrics()
        self.speech = StreamSpeech(self.clips, recognizers, EndpointConfig(), self.metrics)
        self.twilio = Twilio(FakeSocket())
        self.running: asyncio.Task[None] | None = None

    async def dial(self) -> None:
        """The call was answered (its session exists) and Twilio opened the stream."""
        assert await self.sessions.create(self.engine.new_session(CALL_SID, "+15550100001", "+15550009999"))
        self.stream()

    def stream(self) -> None:
        """Twilio opens a media stream for the call (again, after `<Connect>` was answered anew)."""
        socket = FakeSocket()
        self.twilio = Twilio(socket)
        call = StreamCall(socket, self.flows, self.sessions, self.speech, SECRET)
        self.running = asyncio.create_task(call.run())
        self.twilio.start(stream_token(SECRET, CALL_SID))

    async def ended(self) -> None:
        """The stream is closed and the call's task finished without raising."""
        await self.twilio.stream_closed()
        assert self.running is not None
        async with asyncio.timeout(10):
            await self.running

    async def session(self) -> CallSession:
        session = await self.sessions.load(CALL_SID)
        assert session is not None
        return session

    async def caller_said(self) -> list[str]:
        return [entry.text for entry in (await self.session()).transcript if entry.who == "caller"]

    def asr_observed(self) -> float:
        return self.metrics.registry.get_sample_value("ivr_asr_seconds_count") or 0.0


MakeCall = Callable[..., Harness]


@pytest.fixture
async def make_call(tmp_path: Path) -> AsyncIterator[MakeCall]:
    """`make_call("repair", ...)`: a call whose recogniser hears these answers, in order."""
    db = SQLiteDatabase(tmp_path / "calls.db")
    made: list[Harness] = []

    def make(*answers: str | RecognitionError) -> Harness:
        harness = Harness(db, FakeRecognizers(*answers))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        if harness.running is not None:
            harness.running.cancel()
    await db.close()


async def test_speech_during_the_menu_cuts_it_short_and_picks_the_option(make_call: MakeCall) -> None:
    call = make_call("repair")
    await call.dial()
    await call.twilio.prompts(1)  # the menu, not yet heard to its end
    call.twilio.silence(3)
    call.twilio.audio(voice(15))
    await call.twilio.cut_short()  # barge-in: the menu stops as soon as the caller talks
    call.twilio.silence(PAUSE_FRAMES)
    await call.ended()  # option 2 says goodbye and hangs up

    assert call.twilio.cleared == 1
    assert call.clips.texts == [said("main_menu"), said("goodbye")]
    assert await call.caller_said() == ["said 'repair'"]
    assert call.recognizers.made[0].audio_bytes >= 15 * FRAME * 2  # the whole utterance was heard
    assert call.asr_observed() == 1


async def test_silence_after_the_menu_gets_the_no_input_prompt_and_the_menu_again(
    make_call: MakeCall,
) -> None:
    call = make_call()
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.silence(10)
    call.twilio.played()  # the caller heard the whole menu; only now does the clock start
    call.twilio.silence(MENU_TIMEOUT_FRAMES + 5)
    await call.twilio.prompts(2)

    assert call.clips.texts == [said("main_menu"), said("no_input"), said("main_menu")]
    assert call.twilio.cleared == 0
    assert await call.caller_said() == ["(silence)"]
    assert call.asr_observed() == 0


async def test_a_long_prompt_is_not_no_input_while_it_plays(make_call: MakeCall) -> None:
    call = make_call()
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.silence(MENU_TIMEOUT_FRAMES + 50)  # the caller listens politely; marks not back yet
    call.twilio.dtmf("2")
    await call.twilio.cut_short()
    await call.ended()

    assert await call.caller_said() == ["pressed 2"]


async def test_a_key_during_the_menu_cuts_it_short_and_is_taken(make_call: MakeCall) -> None:
    call = make_call()
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.silence(5)
    call.twilio.dtmf("1")
    await call.twilio.cut_short()
    await call.twilio.prompts(1)  # the next question

    assert call.clips.texts == [said("main_menu"), said("ask_order_number")]
    assert await call.caller_said() == ["pressed 1"]
    assert (await call.session()).state == "ask"


async def test_keys_win_over_an_utterance_already_started(make_call: MakeCall) -> None:
    call = make_call("one two")
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.silence(3)
    call.twilio.audio(voice(10))
    await call.twilio.cut_short()
    call.twilio.dtmf("#")
    await call.twilio.prompts(1)

    assert call.clips.texts[-2:] == [said("anything_else"), said("goodbye")]
    assert await call.caller_said() == ["pressed #"]
    assert call.asr_observed() == 0  # the half utterance was dropped, not recognised


async def test_saying_zero_in_a_menu_reaches_an_agent(make_call: MakeCall) -> None:
    call = make_call("zero")
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.played()
    call.twilio.silence(3)
    call.twilio.audio(voice(15))
    call.twilio.silence(PAUSE_FRAMES)
    await call.ended()

    assert call.clips.texts == [said("main_menu"), said("transfer")]
    session = await call.session()
    assert session.state == "agent" and session.outcome == "transferred"
    offered = call.recognizers.made[0].grammars[0]
    assert offered is not None and {"zero", "pound", "hash", "repair"} <= set(offered)


async def test_a_caller_who_hangs_up_while_talking_ends_the_call_quietly(
    make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    call = make_call("order")
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.silence(3)
    call.twilio.audio(voice(20))
    await call.twilio.cut_short()
    call.twilio.hang_up()
    await call.ended()

    session = await call.session()
    assert await call.caller_said() == []  # nothing half-heard is taken as an answer
    assert session.state == "menu" and STREAM_FAILURES not in session.attempts
    assert call.asr_observed() == 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_a_recogniser_failure_hands_the_call_back_and_a_second_reaches_a_person(
    make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    broken = RecognitionError(RecognitionErrorCode.ENGINE_FAILED, "Kaldi rejected audio")
    call = make_call(broken, broken)
    line = SupportLine(
        call.flows,
        call.sessions,
        public_url="https://support.example.test",
        handoff=DialHandOff("+15551230000"),
        streaming=True,
        stream_secret=SECRET,
    )
    await call.dial()
    await call.twilio.prompts(1)
    call.twilio.played()
    call.twilio.audio(voice(15))
    call.twilio.silence(PAUSE_FRAMES)
    await call.ended()  # the stream closes: Twilio asks what next

    assert "asr_engine_failed" in caplog.text
    again = await line.stream_ended({"CallSid": CALL_SID})
    assert "<Connect" in again and "<Stream" in again  # first failure: the call is streamed again
    assert (await call.session()).attempts[STREAM_FAILURES] == 1

    call.stream()  # Twilio streams the call again
    await call.twilio.prompts(1)  # asked again where the call was
    call.twilio.played()
    call.twilio.audio(voice(15))
    call.twilio.silence(PAUSE_FRAMES)
    await call.ended()

    handed_over = await line.stream_ended({"CallSid": CALL_SID})
    assert said("system_error") in handed_over and "<Dial" in handed_over and "<Stream" not in handed_over
