"""Run one call's flow over a Twilio Media Stream: prompt clips speak, a recogniser listens.

The flow engine is the same as in TwiML mode; this adapter renders its steps as audio
and turns what the caller does into the same events. It knows the speech engines only
by their interfaces (`PromptClips`, `RecognizerFactory`); the application picks them.

- `Say` steps are synthesised (cached), sent as 20 ms mu-law frames, and followed by a
  mark; the mark coming back means the caller heard the whole prompt.
- `Gather` listens: key presses arrive as `dtmf` messages, speech is found by the
  endpointer (start, pause = end, long silence = no input) and recognised under a
  grammar of what the question can accept (`grammar_for`). The pause that ends an answer
  is short (200 ms) once the partial results already answer the question in full
  (`answers.AnswerShape`), and long (700 ms) while the answer could still go on.
- Barge-in: speech or a key press during an interruptible prompt sends `clear`, which
  stops the prompt at once, and the input is handled. During a prompt that must be
  heard whole, speech is ignored and keys are held until it ends.
- `Transfer` / `Hangup`: the last prompt plays to its end, then the stream is closed;
  Twilio asks `/voice/stream-ended`, which answers with the hand-off (`<Dial>` or
  `<Enqueue>`) or `<Hangup>`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import WSMessage, WSMsgType

from ivr.flow.steps import Digits, Event, Gather, NoInput, Resume, Say, Speech, Start, Step
from ivr.line import STREAM_FAILURES, stream_token
from ivr.mediastream.answers import AnswerShape
from ivr.mediastream.protocol import (
    Dtmf,
    Inbound,
    Mark,
    Media,
    MediaStreamProtocol,
    ProtocolError,
    Stop,
)
from ivr.mediastream.protocol import (
    Start as StreamStart,
)
from ivr.metrics import Metrics
from ivr.speech import audio
from ivr.speech.asr import RecognitionError, Recognizer, RecognizerFactory, Transcript
from ivr.speech.clips import PromptClips
from ivr.speech.number_words import reading
from ivr.speech.tts import SynthesisError
from ivr.speech.vad import EndpointConfig, Endpointer, EndpointEvent
from ivr.store.base import SessionStore
from ivr.versions.library import Flows

log = logging.getLogger(__name__)

FRAME_BYTES = 160
"""20 ms of 8 kHz mu-law: one media message."""
PREROLL_FRAMES = 15
"""Audio kept from before speech was detected (300 ms), so a word's start is not lost."""
FEED_FRAMES = 5
"""Frames batched per recogniser call (100 ms): fewer thread hops per second of audio."""
START_TIMEOUT = 5.0
"""Seconds an opened websocket may take to send `start` (and so its token); Twilio sends
it at once."""
MEDIA_IDLE = 30.0
"""Seconds of wall-clock time a started stream may go without sending audio. Twilio sends
20 ms of audio 50 times a second for as long as the call lasts, so a quiet stream is a
broken one: it is closed, and the call carries on over TwiML (/voice/stream-ended)."""


@dataclass(frozen=True, slots=True)
class StreamSpeech:
    """What every stream in the process shares: the speech engines and where timings go."""

    clips: PromptClips
    """Prompt text to 8 kHz mu-law audio."""
    recognizers: RecognizerFactory
    """Makes each call's recogniser (one per call, made at its first question)."""
    endpoint: EndpointConfig
    """When the caller started, stopped or never spoke."""
    metrics: Metrics
    """Where recognition times are observed (`ivr_asr_seconds`)."""
    languages: Mapping[str, LanguageSpeech] = field(default_factory=dict)
    """Each served language's voice and recogniser, by code; a language not here uses the
    ones above (the line's default)."""

    def clips_for(self, language: str) -> PromptClips:
        own = self.languages.get(language)
        return own.clips if own is not None else self.clips

    def recognizers_for(self, language: str) -> RecognizerFactory | None:
        """None: the language has no model, and its callers answer with keys."""
        own = self.languages.get(language)
        return own.recognizers if own is not None else self.recognizers


@dataclass(frozen=True, slots=True)
class LanguageSpeech:
    """One language's voice and ears on a media stream."""

    clips: PromptClips
    """Prompts in the language's own synthesiser voice."""
    recognizers: RecognizerFactory | None
    """Its Vosk model; None when none is installed (keypad only, warned at start-up)."""


class MediaSocket(Protocol):
    """What a call needs of its websocket: aiohttp's `WebSocketResponse`, or a test's fake."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ..., drain: bool = ...) -> bool: ...

    def __aiter__(self) -> AsyncIterator[WSMessage]: ...


class CallEnded(Exception):
    """The caller hung up or the stream closed; nothing more to do."""


def grammar_for(gather: Gather, agent_words: Sequence[str]) -> list[str]:
    """What recognition may return for this question, in its language: menu words and keys
    named aloud, or numbers and the words that leave a number question ("main menu").

    The key and number words are the same tables the flow engine reads spoken answers with
    (`ivr.speech.number_words`), so every word the recogniser can hear is one the menu understands.
    """
    words = reading(gather.language)
    heard = [*gather.hints, *gather.phrases]
    said = [*words.number_words, *heard] if gather.digits else [*heard, *words.key_words]
    return sorted({*said, *agent_words})


class StreamCall:
    """One media-stream call: checks its token, then runs its flow turn by turn until it ends."""

    def __init__(
        self,
        ws: MediaSocket,
        flows: Flows,
        sessions: SessionStore,
        speech: StreamSpeech,
        stream_secret: bytes,
    ) -> None:
        self.ws = ws
        self.flows = flows
        self.agent_words: Callable[[str], tuple[str, ...]] = lambda _language: ()
        """The words for an agent in the call's flow version, by language (part of every grammar)."""
        self.expected_answers: Callable[[], Awaitable[frozenset[str]]] | None = None
        """The numbers the caller is known to have for the question asked now (their own orders);
        set once the call's flow is known."""
        self.shape: AnswerShape | None = None
        """What a complete answer to the open question looks like (None: no recogniser to tell)."""
        self.sessions = sessions
        self.speech = speech
        self.stream_secret = stream_secret
        self.protocol = MediaStreamProtocol()
        self.inbound: asyncio.Queue[Inbound | None] = asyncio.Queue()
        self.endpointer = Endpointer(speech.endpoint)
        self.preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self.marks: set[str] = set()
        self.call_sid = ""
        self.recognizer: Recognizer | None = None
        self.recognizer_factory: RecognizerFactory | None = None
        """The model `recognizer` was made on (a language change needs another)."""
        self.unframed = b""
        """Caller audio not yet cut into 20 ms frames (Twilio's chunks need not be 20 ms)."""
        self.media_idle = MEDIA_IDLE
        self.last_media = 0.0
        """When audio last arrived (the loop's clock), noted by the reader as it arrives."""

    async def run(self, on_identified: Callable[[], None] | None = None) -> None:
        """Serve the call until the caller hangs up or the flow hands off; never raises.
        `on_identified` is told once the stream has named its call with a valid token."""
        reader = asyncio.create_task(self._read())
        watchdog: asyncio.Task[None] | None = None
        try:
            start = await self._wait_for_start()
            self.call_sid = start.call_sid
            self.last_media = asyncio.get_running_loop().time()
            watchdog = asyncio.create_task(self._close_when_quiet())
            expected = stream_token(self.stream_secret, start.call_sid)
            if not hmac.compare_digest(start.custom_parameters.get("token", ""), expected):
                log.warning("stream_unauthenticated: call %s: missing or wrong token", start.call_sid)
                return
            if on_identified is not None:
                on_identified()
            await self._converse()
        except CallEnded:
            pass
        except (RecognitionError, SynthesisError) as exc:
            # Closing hands the call back to Twilio, which asks /voice/stream-ended: that
            # counts the failure, and reconnects or hands the caller to a person.
            log.error("%s: call %s stream stopped: %s", exc.code, self.call_sid or "?", exc)
        except Exception:
            log.exception("stream_failed: call %s", self.call_sid or "?")
        finally:
            reader.cancel()
            if watchdog is not None:
                watchdog.cancel()
            if not self.ws.closed:
                await self.ws.close()

    async def _read(self) -> None:
        """Parse every websocket message; a broken stream is closed, other calls go on."""
        try:
            async for message in self.ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                try:
                    inbound = self.protocol.receive(message.data)
                except ProtocolError as exc:
                    log.warning("%s: call %s: %s", exc.code, self.call_sid or "?", exc)
                    await self.ws.close()
                    break
                if isinstance(inbound, Media):
                    self.last_media = asyncio.get_running_loop().time()
                await self.inbound.put(inbound)
        finally:
            await self.inbound.put(None)

    async def _close_when_quiet(self) -> None:
        """Close a started stream once it has sent no audio for `media_idle` seconds.

        One wake-up per quiet spell, not a timer per frame: the reader notes each frame's
        arrival, and this checks the time only when the limit could have been reached."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = self.last_media + self.media_idle - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)  # audio may have come meanwhile: check again
        log.warning("stream_idle: call %s: no audio for %s s; closing", self.call_sid, self.media_idle)
        await self.ws.close()

    async def _next(self) -> Inbound:
        """The next message from Twilio; a returning mark is struck off the ones playing."""
        message = await self.inbound.get()
        if message is None or isinstance(message, Stop):
            raise CallEnded
        if isinstance(message, Mark):
            self.marks.discard(message.name)
        return message

    async def _wait_for_start(self) -> StreamStart:
        """Twilio sends `start` at once; a socket that does not is closed, not kept forever."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    message = await self._next()
                    if isinstance(message, StreamStart):
                        return message
        except TimeoutError:
            log.warning("stream_no_start: no start message within %s s; closing", START_TIMEOUT)
            raise CallEnded from None

    async def _converse(self) -> None:
        """Take turns: the flow speaks and asks, the caller answers, until a hand-off or an end."""
        session = await self.sessions.load(self.call_sid)
        if session is None:
            log.warning("stream_unknown_call: %s has no session; closing", self.call_sid)
            return
        event: Event = Resume() if session.path else Start()
        engine = (await self.flows.for_session(session)).engine  # the version the call started on
        self.agent_words = engine.agent_words
        self.expected_answers = lambda: engine.expected_answers(session)
        answered = False
        while True:
            expected = session.seq
            steps = await engine.handle(session, event)
            session.seq += 1
            if answered:
                session.attempts.pop(STREAM_FAILURES, None)  # this stream works
            if not await self.sessions.save(session, expected):
                log.info("call %s: ended or moved on elsewhere; closing its stream", self.call_sid)
                return
            next_event = await self._perform(steps)
            if next_event is None:
                return
            event, answered = next_event, True

    async def _perform(self, steps: Sequence[Step]) -> Event | None:
        """Play one turn's steps; returns the caller's answer, or None when the stream should close."""
        prompts: list[Say] = []
        for step in steps:
            if isinstance(step, Say):
                prompts.append(step)
            elif isinstance(step, Gather):
                return await self._ask(prompts, step)
            else:  # Transfer or Hangup: let the caller hear the last words, then hand back to TwiML
                await self._play(prompts, barge_in=False)
                await self._drain_marks()
                return None
        return None

    async def _play(self, prompts: Sequence[Say], *, barge_in: bool) -> None:
        """Queue the prompts on the stream, each followed by a mark saying whether it may be cut short."""
        # Everything for the turn is rendered before the first frame goes out, so the
        # caller never hears a gap between two prompts while the second is synthesised.
        clips = [await self.speech.clips_for(prompt.language).get(prompt.text) for prompt in prompts]
        for prompt, clip in zip(prompts, clips, strict=True):
            for offset in range(0, len(clip), FRAME_BYTES):
                chunk = clip[offset : offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff")
                await self.ws.send_str(self.protocol.media(chunk))
            name = f"{'i' if barge_in and prompt.interruptible else 'n'}-{secrets.token_hex(4)}"
            self.marks.add(name)
            await self.ws.send_str(self.protocol.mark(name))

    async def _drain_marks(self) -> None:
        """Wait until the caller has heard every prompt sent (before the stream closes)."""
        while self.marks:
            await self._next()

    async def _ask(self, prompts: Sequence[Say], gather: Gather) -> Event:
        """Play the question and listen: keys, speech (with barge-in) or silence end the turn."""
        grammar = grammar_for(gather, self.agent_words(gather.language))
        factory = self.speech.recognizers_for(gather.language)
        if factory is None:
            recognizer: Recognizer | None = None  # no model for this language: keys only
        elif self.recognizer is None or self.recognizer_factory is not factory:
            # Made with its first grammar: a free-form recogniser costs ~50 ms and ~4 MB to set up.
            # A caller who changes language gets one on that language's model.
            self.recognizer = await factory.recognizer(8000, grammar)
            self.recognizer_factory = factory
            recognizer = self.recognizer
        else:
            self.recognizer.set_grammar(grammar)
            recognizer = self.recognizer
        self.shape = None
        if recognizer is not None:
            known = self.expected_answers if gather.digits else None
            expected = await known() if known is not None else frozenset[str]()
            self.shape = AnswerShape(gather, grammar, self.agent_words(gather.language), expected)
        await self._play(prompts, barge_in=True)
        self.endpointer.reset(gather.timeout * 1000, prompt_playing=bool(self.marks))
        digits = ""
        hearing = False
        pending: list[bytes] = []
        held: list[Dtmf] = []
        """Keys pressed during a notice that must be heard whole: taken when it ends."""
        backlog: deque[Inbound] = deque()
        while True:
            playing = bool(self.marks)
            message = backlog.popleft() if backlog else await self._next()
            if playing and not self.marks:
                self.endpointer.prompt_finished()
            if held and not self.marks:
                backlog.extend([*held, message])  # the held keys first, then what came after
                held.clear()
                continue
            if isinstance(message, Dtmf):
                if self.marks and not self._can_interrupt():
                    held.append(message)
                    continue
                if self.marks:
                    await self._interrupt()
                if hearing and recognizer is not None:  # keys win over half an utterance: start afresh
                    await recognizer.finish()
                    hearing, pending = False, []
                digits += message.digit
                if not gather.digits or len(digits) >= gather.max_digits:
                    return Digits(digits)
                if gather.finish_on_key and message.digit == gather.finish_on_key:
                    return Digits(digits)
                self.endpointer.reset(gather.timeout * 1000)  # time allowed between keys
                continue
            if not isinstance(message, Media):
                continue
            self.unframed += message.payload
            while len(self.unframed) >= FRAME_BYTES:
                chunk, self.unframed = self.unframed[:FRAME_BYTES], self.unframed[FRAME_BYTES:]
                outcome = await self._hear(chunk, gather, recognizer, hearing, pending)
                if isinstance(outcome, tuple):
                    hearing, pending = outcome
                    continue
                if outcome is None:  # no input: keys pressed earlier still count
                    return Digits(digits) if digits else NoInput()
                return outcome

    async def _hear(
        self, chunk: bytes, gather: Gather, recognizer: Recognizer | None, hearing: bool, pending: list[bytes]
    ) -> tuple[bool, list[bytes]] | Event | None:
        """One 20 ms frame of caller audio: barge-in, recognition, end of utterance.

        Returns the turn's event when the frame ends it (None for "no input"), otherwise
        the updated (hearing, pending) state.
        """
        pcm = audio.ulaw_decode(chunk)
        frame = pcm.tobytes()
        happened = self.endpointer.feed(pcm)
        if happened is EndpointEvent.SPEECH_STARTED:
            if self.marks and not self._can_interrupt():
                self.endpointer.reset(gather.timeout * 1000, prompt_playing=True)
                return hearing, pending
            if self.marks:
                await self._interrupt()
            hearing = True
            pending = [*self.preroll, frame]
        elif hearing:
            if self.endpointer.pause_ms <= self.speech.endpoint.complete_silence_ms:
                pending.append(frame)  # the rest of a longer pause is silence: not worth decoding
        else:
            self.preroll.append(frame)
        if hearing and len(pending) >= FEED_FRAMES:
            if recognizer is not None and self._heard(await recognizer.accept(b"".join(pending))):
                happened = EndpointEvent.SPEECH_ENDED  # complete, and the pause is long enough
            pending = []
        if happened is EndpointEvent.PAUSED and recognizer is not None:
            # Partials can lag or stay empty until a word is final: settle what was said so
            # far, and if it answers the question, this pause is the end of the utterance.
            if pending:
                await recognizer.accept(b"".join(pending))
                pending = []
            if self._heard(await recognizer.settle()):
                happened = EndpointEvent.SPEECH_ENDED
        if happened is EndpointEvent.SPEECH_ENDED:
            if recognizer is None:
                self.preroll.clear()
                return Speech("", 0.0)  # heard but not understood: asked again, to use the keys
            stopped = time.perf_counter()  # the caller stopped: from here on, the caller waits
            if pending:
                await recognizer.accept(b"".join(pending))
            result = await recognizer.finish()
            self.speech.metrics.asr(time.perf_counter() - stopped)
            self.preroll.clear()
            return Speech(result.text, result.confidence)
        if happened is EndpointEvent.NO_INPUT:
            return None
        return hearing, pending

    def _heard(self, so_far: Transcript | None) -> bool:
        """Tell the endpointer whether the words so far answer the question (None: no news);
        True when that ends the utterance now (the pause was already long enough)."""
        if so_far is None or self.shape is None:
            return False
        return self.endpointer.answer_complete(self.shape.complete(so_far.text))

    def _can_interrupt(self) -> bool:
        """Whether everything still playing may be cut short (no notice that must be heard whole)."""
        return all(name.startswith("i-") for name in self.marks)

    async def _interrupt(self) -> None:
        """Barge-in: stop the prompt now; Twilio drops the queued audio and echoes the marks."""
        await self.ws.send_str(self.protocol.clear())
        self.marks.clear()
        self.endpointer.prompt_finished()
