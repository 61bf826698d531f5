"""The support line: one webhook turn = load the call, advance the flow, answer TwiML.

This is where the rules that keep a call safe live:
- each turn is numbered, and a turn is taken at most once: a retried or duplicated
  webhook gets the answer already given (compare-and-set on the session's `seq`), rebuilt
  from the turn's record (`ivr.answers`) rather than kept as TwiML in the call's state;
- a turn reads and writes the call's small state only (`SessionStore.load_state`): what
  the call said so far stays in the store, and the turn's own lines are appended to it;
- a call the store has never seen starts at the greeting rather than failing, unless the
  durable record says it ended (its live Redis key expired): then it only hears goodbye;
- locally synthesised prompts that fail to render fall back to `<Say>`, never silence.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ivr import answers
from ivr.flow.steps import (
    KEYS,
    MAX_SPEECH_CHARS,
    Digits,
    Event,
    NoInput,
    Say,
    Speech,
    Start,
    Step,
    Transfer,
    TransferEnded,
    TransferResult,
)
from ivr.handoff import HandOff, transfer_connected
from ivr.languages import fault_words
from ivr.logs import mask_phone
from ivr.metrics import Metrics
from ivr.session import FINAL_STATUSES, CallSession, CallStatus, TranscriptEntry
from ivr.speech.tts import SynthesisError
from ivr.step_twiml import Audio, Renderable, render, render_fallback, render_goodbye, render_stream
from ivr.store.base import CallLog, SessionStore
from ivr.versions.library import Flows, LiveFlow

log = logging.getLogger(__name__)

STREAM_FAILURES = "stream#failures"
"""Where a call's failed media streams are counted (in `CallSession.attempts`); a stream
on which the caller answered a question clears it."""
STREAM_RETRIES = 2
"""Failed streams in a row after which the caller is handed to a person."""


class PromptAudio(Protocol):
    """Turns prompt text into a served recording (see `ivr.speech.cache`)."""

    async def audio_id(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a call ends at its next turn, whatever the caller answered (`SupportLine.turn`'s `end`)."""

    prompt: str
    """What the caller hears last (a prompt of the call's flow, in the call's language)."""
    outcome: str
    """The call record's outcome."""
    why: str
    """For the call's transcript."""


MEDIA_PATH = "/media"
"""Where Twilio opens a call's media stream (the websocket route)."""


def stream_url(public_url: str, path: str = MEDIA_PATH) -> str:
    """The websocket address of `path` here: `wss://` behind `https://`, `ws://` behind `http://`.

    The one place it is spelt: `<Connect><Stream url>` names it, and Twilio signs the
    websocket handshake over the same URL, so the two can never disagree.
    """
    scheme, rest = public_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"


def stream_token(secret: bytes, call_sid: str) -> str:
    """Proof that a media stream was opened by our own `<Connect>` for this call.

    Whether Twilio signs the websocket handshake is not reliably documented, so every
    stream must also present this token (sent as a `<Parameter>`, checked at `start`).
    """
    return hmac.new(secret, f"media-stream:{call_sid}".encode(), hashlib.sha256).hexdigest()


def event_from(params: Mapping[str, str], query: Mapping[str, str]) -> Event:
    """Read what the caller did from Twilio's webhook parameters."""
    if query.get("transfer") == "1":
        connected = transfer_connected(dict(params))
        return TransferEnded(TransferResult.CONNECTED if connected else TransferResult.FAILED)
    if query.get("silence") == "1":
        return NoInput()
    digits = params.get("Digits", "").strip()
    if digits and digits != "hangup":
        # Anything but keypad keys is a no-match: the caller hears the normal reprompt.
        return Digits(digits if KEYS.fullmatch(digits) else "")
    speech = params.get("SpeechResult", "").strip()[:MAX_SPEECH_CHARS]
    if speech:
        try:
            confidence = float(params.get("Confidence", "1") or 1)
        except ValueError:
            confidence = 1.0
        return Speech(speech, confidence)
    return NoInput()


def _language_query(lead: str, language: str) -> str:
    """`language=…` for a URL Twilio will post to, so that a fault answering it speaks the call's
    language without reading the store. Twilio signs the URL: a caller cannot change it."""
    return f"{lead}language={language}" if language else ""


class SupportLine:
    def __init__(
        self,
        flows: Flows,
        sessions: SessionStore,
        *,
        public_url: str,
        handoff: HandOff,
        audio: PromptAudio | None = None,
        audio_by_language: Mapping[str, PromptAudio] | None = None,
        streaming: bool = False,
        stream_secret: bytes = b"",
        archive: CallLog | None = None,
        metrics: Metrics | None = None,
        turn_path: str = "/voice/turn",
    ) -> None:
        self.flows = flows
        self.turn_path = turn_path
        """Where Twilio posts the caller's answers (each outbound flow has its own line and path)."""
        self.sessions = sessions
        self.public_url = public_url
        self.handoff = handoff
        self.audio = audio
        self.audio_by_language = audio_by_language or {}
        """Each language's own synthesiser voice (a language not here: `audio`)."""
        self.streaming = streaming
        """Local speech: calls run over a media stream, not `<Gather>` turns."""
        self.stream_secret = stream_secret
        self.archive = archive
        """Where finished calls are kept when live sessions are elsewhere (Redis)."""
        self.metrics = metrics or Metrics()

    async def answer(
        self,
        params: Mapping[str, str],
        *,
        known: Mapping[str, str] | None = None,
        outbound: bool = False,
        language: str = "",
    ) -> str:
        """A new call (Twilio's Voice URL).

        `known`: what the line already knows about the call before it starts (an outbound
        campaign call: the customer's name, the order). `outbound`: the line placed the
        call, so the customer is `To` and the line's number `From`. `language`: the language
        the call speaks from its first word (a campaign call: the customer's); empty: the
        flow engine decides, asking the caller if it must."""
        call_sid = params["CallSid"]
        live = await self.flows.current()
        ended = await self._archived(call_sid)
        if ended is not None:
            # A replay after the ended call's live key expired: starting it afresh would greet
            # by name and read out the order again, and its status would overwrite the record.
            log.warning("call %s: webhook for a call that has ended, saying goodbye", call_sid)
            return self._ended(live, ended.language)
        customer, line = params.get("From", ""), params.get("To", "")
        if outbound:
            customer, line = line, customer
        session = live.engine.new_session(call_sid, customer, line)
        session.vars.update(known or {})
        session.language = language
        steps: list[Step] = []
        if self.streaming:
            twiml = self._connect(call_sid)
            session.answer = answers.of_stream("")
        else:
            steps = await live.engine.handle(session, Start())
            twiml = await self._finish_turn(session, steps, live)
        if not await self.sessions.create(session):
            # A repeated first webhook (Twilio retrying, or someone replaying a captured
            # request) gets what the first one got: the welcome, built afresh, never the
            # call's latest answer, which may read out an order. An ended call: goodbye.
            existing = await self.sessions.load_state(call_sid)
            if existing is not None and existing.status in FINAL_STATUSES:
                return self._ended(live, existing.language)
            return twiml
        self.metrics.call_started()
        self._count_handoffs(steps)
        log.info("call %s from %s started", call_sid, mask_phone(session.caller))
        return twiml

    async def turn(
        self,
        seq: int,
        params: Mapping[str, str],
        query: Mapping[str, str],
        *,
        end: Callable[[CallSession], Awaitable[Ending | None]] | None = None,
    ) -> str:
        """The caller answered (or stayed silent, or a transfer ended) for turn `seq`.

        `end`: asked once the turn is known to be new; an `Ending` ends the call at this turn
        with its prompt instead of running the flow (a campaign call to a number that has
        opted out since it started)."""
        call_sid = params["CallSid"]
        session = await self.sessions.load_state(call_sid)
        if session is None:
            log.warning("call %s: turn for an unknown call, starting it afresh", call_sid)
            return await self.answer(params)
        if session.status in FINAL_STATUSES:
            return self._ended(await self.flows.for_session(session), session.language)
        if seq == session.seq - 1:
            log.info("call %s: turn %s delivered again, answering as before", call_sid, seq)
            return await self._replay(session)
        if seq != session.seq:
            # Twilio only ever repeats the latest turn: an older or unissued one is a replay.
            log.warning("call %s: turn %s replayed out of order (call is at %s)", call_sid, seq, session.seq)
            return self._ended(await self.flows.for_session(session), session.language)
        expected = session.seq
        event = event_from(params, query)
        live = await self.flows.for_session(session)
        ending = await end(session) if end is not None else None
        if ending is not None:
            steps = live.engine.end(session, ending.prompt, ending.outcome, ending.why)
        else:
            steps = await live.engine.handle(session, event)
        twiml = await self._finish_turn(session, steps, live)
        if not await self.sessions.save(session, expected):
            log.info("call %s: turn %s was taken by a duplicate delivery", call_sid, seq)
            return await self._winner(call_sid, twiml)
        self._count_handoffs(steps)
        log.info("call %s turn %s: %s -> %s", call_sid, seq, type(event).__name__, session.state)
        return twiml

    async def status(self, params: Mapping[str, str]) -> None:
        """Twilio's status callback: file the call's ending."""
        call_sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
        if status not in FINAL_STATUSES:
            return  # progress events (ringing, answered) change nothing a record keeps
        await self._file_ending(call_sid, status, time.time())

    async def sweep(self, idle_for: float) -> int:
        """File the calls nothing has written for `idle_for` seconds as ended; returns how many.

        Twilio does not retry a status callback: one that failed (a store frozen or down at
        that moment) left the call `in-progress` for ever in the database, never counted nor
        purged, or expiring unrecorded from Redis. The record says why it was filed so, and
        ends when the call was last heard of, not when the sweep found it."""
        minutes = round(idle_for / 60)
        reason = f"filed as ended: no final status from Twilio, nothing heard for {minutes} min"
        filed = 0
        for call_sid, last_written in await self.sessions.idle(idle_for):
            if await self._file_ending(call_sid, CallStatus.COMPLETED, last_written, reason):
                log.warning("call_swept: call %s had no final status; %s", call_sid, reason)
                filed += 1
        return filed

    async def _file_ending(self, call_sid: str, status: str, ended_at: float, reason: str = "") -> bool:
        """Mark the call ended (archiving its record first where records live apart);
        False if it is unknown, already ended, or the record could not be kept."""
        for _ in range(5):
            session = await self.sessions.load(call_sid)
            if session is None or session.status in FINAL_STATUSES:
                return False
            session.status = status
            session.ended_at = ended_at
            session.outcome = session.outcome or "abandoned"
            if reason:
                session.transcript.append(
                    TranscriptEntry(round(ended_at - session.started_at, 1), "flow", reason)
                )
            session.seq += 1  # a turn still in flight now loses its compare-and-set
            if self.archive is not None:
                # Before the live session is marked final (Twilio does not retry status
                # callbacks, and a final session expires): a failed archive leaves the call
                # live in Redis, still readable, instead of losing its record.
                try:
                    await self.archive.archive(session)
                except Exception:
                    log.exception("archive_failed: call %s", call_sid)
                    return False
            if await self.sessions.save(session, session.seq - 1):
                self.metrics.call_ended(session.outcome)
                log.info("call %s %s (%s)", call_sid, status, session.outcome)
                return True
        log.error("status_conflict: call %s status %s not saved after retries", call_sid, status)
        return False

    async def stream_ended(self, params: Mapping[str, str]) -> str:
        """Twilio's `<Connect action>` request after a media stream closed.

        The stream closes itself at a hand-off or an ending (after speaking its prompt):
        answer with just the `<Dial>`/`<Enqueue>` or `<Hangup>`. A stream that dropped
        mid-question (an instance shutting down) is reconnected and the caller asked again.
        """
        call_sid = params["CallSid"]
        session = await self.sessions.load_state(call_sid)
        if session is None:
            return await self.answer(params)
        live = await self.flows.for_session(session)
        if session.status in FINAL_STATUSES:
            return self._ended(live, session.language)
        steps = live.engine.exit_steps(session)
        if not steps:
            # The stream closed mid-question: it failed, was refused, never connected, went
            # quiet, or its instance shut down. Each counts, so a stream that cannot work
            # ends in a hand-off instead of an endless round of fresh <Connect>s.
            expected = session.seq
            failures = session.attempts.get(STREAM_FAILURES, 0) + 1
            session.attempts[STREAM_FAILURES] = failures
            session.seq += 1
            if failures >= STREAM_RETRIES:
                log.error("stream_failed: call %s: streams keep failing, handing over", call_sid)
                twiml = self.fallback(session.language)
                session.answer = answers.of_twiml(twiml)
            else:
                log.info("call %s: stream closed at '%s', reconnecting", call_sid, session.state)
                twiml = self._connect(call_sid, session.language)
                session.answer = answers.of_stream(session.language)
            if not await self.sessions.save(session, expected):
                return await self._winner(call_sid, twiml)
            return twiml
        expected = session.seq
        twiml = await self._finish_turn(session, steps, live)
        if not await self.sessions.save(session, expected):
            return await self._winner(call_sid, twiml)
        self._count_handoffs(steps)
        return twiml

    async def _winner(self, call_sid: str, lost: str) -> str:
        """The answer of the delivery that took a turn this one lost (`lost` if the call is gone)."""
        winner = await self.sessions.load_state(call_sid)
        return await self._replay(winner) if winner else lost

    async def _replay(self, session: CallSession) -> str:
        """The answer the call's latest turn gave, for a repeated delivery of that turn."""
        record = await self.sessions.answer(session.call_sid, session.seq)
        if record is None:
            if session.last_response:  # answered by a release that kept the TwiML (schema < 5)
                return session.last_response
            log.error("answer_missing: call %s turn %s has nothing to repeat", session.call_sid, session.seq)
            return self.fallback(session.language)
        answer = answers.read(record)
        if answer.twiml:
            return answer.twiml
        if answer.stream:
            return self._connect(session.call_sid, answer.language)
        live = await self.flows.for_session(session)
        return render(
            answer.steps,
            turn_url=self._turn_url(answer.seq, answer.language),
            voice=live.voice,
            handoff=self.handoff,
            voices=live.voices,
        )

    def _turn_url(self, seq: int, language: str) -> str:
        return f"{self.public_url}{self.turn_path}?seq={seq}{_language_query('&', language)}"

    async def _archived(self, call_sid: str) -> CallSession | None:
        """The durable record of a call whose live session is elsewhere (Redis), or None.

        Where sessions and records share a table, `sessions.create` already finds an ended
        call; with Redis the live key expires, and only the record remembers that it ended."""
        if self.archive is None:
            return None
        return await self.archive.get_call(call_sid)

    def _connect(self, call_sid: str, language: str = "") -> str:
        """TwiML that hands the call to a media stream carrying this call's token (and, once
        known, its language: the stream's ending may be a fault, apologised for in it)."""
        token = stream_token(self.stream_secret, call_sid)
        return render_stream(
            stream_url(self.public_url),
            f"{self.public_url}/voice/stream-ended{_language_query('?', language)}",
            {"token": token},
        )

    @staticmethod
    def _ended(live: LiveFlow, language: str = "") -> str:
        """The answer to a webhook for a call that is over (or a replayed turn): a plain
        goodbye in the call's language, with nothing from the call in it."""
        code, voice = live.speaking(language)
        return render_goodbye(fault_words(code).goodbye, voice=voice)

    def fault_language(self, params: Mapping[str, str], query: Mapping[str, str]) -> str:
        """The caller's language for a webhook that failed, known without the store (which may
        be what failed): the one its URL carries (the session's, put there each turn), else the
        called number's, else "" (the line's default)."""
        live = self.flows.latest()
        carried = query.get("language", "")
        if carried in live.voices:
            return carried
        return live.engine.languages.for_number(params.get("To", "")) or ""

    def fallback(self, language: str = "") -> str:
        """TwiML for when the service itself fails: apologise and hand over, in `language`."""
        self.metrics.handoff("system_error")
        live = self.flows.latest()
        apology, voice = live.apology_in(language)
        code = live.speaking(language)[0]
        return render_fallback(
            apology,
            voice=voice,
            handoff=self.handoff,
            after_url=f"{self.public_url}/voice/after-transfer{_language_query('?', code)}",
            language=code,
        )

    def after_transfer(self, params: Mapping[str, str], language: str = "") -> str:
        """The fallback's hand-off ended: goodbye, or that nobody was free, in the caller's language."""
        code, voice = self.flows.latest().speaking(language)
        if transfer_connected(dict(params)):
            return render_goodbye(None, voice=voice)
        return render_goodbye(fault_words(code).nobody_free, voice=voice)

    def _count_handoffs(self, steps: list[Step]) -> None:
        """Count hand-offs once per call, after the turn that made them was saved."""
        for step in steps:
            if isinstance(step, Transfer):
                self.metrics.handoff(step.reason)

    async def _finish_turn(self, session: CallSession, steps: list[Step], live: LiveFlow) -> str:
        session.seq += 1
        handoff = self.handoff
        for step in steps:
            if isinstance(step, Transfer):
                handoff = await self.handoff.prepare(session, step)
        renderable = await self._voiced(steps)
        twiml = render(
            renderable,
            turn_url=self._turn_url(session.seq, session.language),
            voice=live.voice,
            handoff=handoff,
            voices=live.voices,
        )
        if answers.rebuildable(renderable):
            session.answer = answers.of_steps(renderable, session.seq, session.language)
        else:
            session.answer = answers.of_twiml(twiml)
        return twiml

    async def _voiced(self, steps: list[Step]) -> list[Renderable]:
        if self.audio is None:
            return list(steps)
        out: list[Renderable] = []
        for step in steps:
            if isinstance(step, Say):
                try:
                    audio_id = await self.audio_by_language.get(step.language, self.audio).audio_id(step.text)
                except SynthesisError as exc:
                    log.error("%s: speaking with <Say> instead: %s", exc.code, exc)
                    out.append(step)
                    continue
                out.append(Audio(f"{self.public_url}/audio/{audio_id}.wav", step.text, step.interruptible))
            else:
                out.append(step)
        return out
