"""Twilio webhooks for the queue, agents' whispers, callbacks and voicemail, and the desk's
background task.

All of them live under /voice, so the signature middleware checks every one. Each handler
answers TwiML whatever happens (`ivr.webhooks.twiml_webhook`): an unknown entry, offer
or callback, or a fault of ours, gets a short apology and a way out (`<Leave>` in the queue,
`<Hangup>` elsewhere), never an error page. Status callbacks answer 204.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from ivr.agents import queue_twiml
from ivr.agents.caller_words import CallerWords, words_for
from ivr.agents.desk import AgentDesk
from ivr.agents.model import EntryState, Offer, OfferKind, OfferState, QueueEntry, conference_name
from ivr.agents.voicemail import VoicemailWorker
from ivr.agents.whisper import ENGLISH as ENGLISH_AGENT
from ivr.agents.whisper import AgentWords, summary
from ivr.agents.whisper import words_for as agent_words_for
from ivr.step_twiml import Voice
from ivr.webhooks import Endpoint, status_webhook, twiml_webhook

log = logging.getLogger(__name__)

HOLD_PATH = "/audio/hold.wav"


@dataclass
class AgentLine:
    """What the handlers need: the desk, how to speak, where the hold music is, the worker."""

    desk: AgentDesk
    voice: Voice
    hold_url: str
    worker: VoicemailWorker | None
    wakeup: asyncio.Event
    tick: float = 15.0
    """Seconds between background rounds (routing, callback retries, voicemail) when not woken."""
    voices: Mapping[str, Voice] = field(default_factory=dict)
    """Each served language's voice (its prompts file's); callers hear the desk in their own."""
    language: str = "en"
    """The line's default language."""
    number_languages: Mapping[str, str] = field(default_factory=dict)
    """The line's numbers (E.164) that have a language of their own."""

    def wake(self) -> None:
        self.wakeup.set()

    def speaking(self, context: Mapping[str, str]) -> tuple[CallerWords, Voice]:
        """The words and voice for a caller whose hand-off `context` names their language."""
        language = context.get("language", "")
        return words_for(language), self.voices.get(language, self.voice)

    def to_stranger(self, params: Mapping[str, str]) -> tuple[CallerWords, Voice]:
        """The words and voice for a caller the desk has no record of (a stale or replayed
        webhook, a queue entry already gone): the language of the line's number on the call
        (`To` when they called in, `From` when the line called them), else the line's own."""
        language = (
            self.number_languages.get(params.get("To", ""))
            or self.number_languages.get(params.get("From", ""))
            or self.language
        )
        return self.speaking({"language": language})

    async def to_agent(self, username: str) -> tuple[AgentWords, Voice]:
        """The words and voice for an agent: their account's language (English if it is gone),
        in the line's voice for it, else a plain `<Say>` in it."""
        account = await self.desk.accounts.get(username)
        language = account.language if account else "en"
        words = agent_words_for(language)
        return words, self.voices.get(language) or Voice(language=words.say_language)


AGENT_LINE = web.AppKey("agent_line", AgentLine)
Handler = Callable[[AgentLine, dict[str, str], web.Request], Awaitable[str]]


_PARAMS = web.RequestKey("agent_webhook_params", dict[str, str])


def _handler(handler: Handler, sorry: Callable[[CallerWords, Voice], str]) -> Endpoint:
    """A TwiML webhook (see `ivr.webhooks`): `sorry` is what the caller hears if it fails, in
    the language of the line's number on the call."""

    async def answer(request: web.Request, params: dict[str, str]) -> str:
        request[_PARAMS] = params
        return await handler(request.app[AGENT_LINE], params, request)

    def fallback(request: web.Request) -> str:
        return sorry(*request.app[AGENT_LINE].to_stranger(request.get(_PARAMS, {})))

    return twiml_webhook(answer, fallback)


def _status(handler: Callable[[AgentLine, dict[str, str], web.Request], Awaitable[None]]) -> Endpoint:
    """A status callback: 204 once filed, then the desk's background round runs at once."""

    async def file(request: web.Request, params: dict[str, str]) -> None:
        line = request.app[AGENT_LINE]
        await handler(line, params, request)
        line.wake()

    return status_webhook(file)


def _leave(words: CallerWords, voice: Voice) -> str:
    return queue_twiml.leave(words.lost_place, voice)


def _bye(words: CallerWords, voice: Voice) -> str:
    return queue_twiml.goodbye(words.sorry, voice)


async def _queued(line: AgentLine, params: dict[str, str], request: web.Request) -> QueueEntry | None:
    """The entry of this webhook: by id, checked against the CallSid, else by CallSid."""
    entry_id, call_sid = request.query.get("entry", ""), params.get("CallSid", "")
    entry = (
        await line.desk.store.queue.get(entry_id)
        if entry_id
        else await line.desk.store.queue.for_call(call_sid)
    )
    if entry is not None and entry.call_sid != call_sid:
        return None
    return entry


# --- the caller in the queue -------------------------------------------------------------------


async def queue_wait(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    entry = await _queued(line, params, request)
    if entry is None and not request.query.get("entry") and params.get("From") and params.get("CallSid"):
        # The fallback hand-off queued a call without a prepared entry: take it in, not drop it,
        # in the language the fallback apologised in (it is the skill the caller needs).
        language = request.query.get("language", "")
        context = {"language": language} if language in line.voices else {}
        entry = await line.desk.enqueue(params["CallSid"], params["From"], "system_error", context)
        line.wake()
    if entry is None:
        return _leave(*line.to_stranger(params))
    words, voice = line.speaking(entry.context)
    if entry.state not in (EntryState.WAITING, EntryState.OFFERED):
        if entry.state is EntryState.BRIDGED:
            return queue_twiml.back_to_waiting(line.desk.urls.wait(entry.id), voice, words)
        return queue_twiml.leave(words.lost_place, voice)
    info = await line.desk.wait_info(entry)
    return queue_twiml.wait(
        info, hold_url=line.hold_url, choice_url=line.desk.urls.choice(entry.id), voice=voice, words=words
    )


async def queue_choice(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    entry = await _queued(line, params, request)
    if entry is None:
        return _leave(*line.to_stranger(params))
    words, voice = line.speaking(entry.context)
    digits = params.get("Digits", "")
    if digits == "1" and await line.desk.request_callback(entry.id) is not None:
        return queue_twiml.leave(words.thanks, voice)
    if digits == "2" and await line.desk.store.queue.leave(entry.id, EntryState.VOICEMAIL):
        return queue_twiml.leave(words.thanks, voice)
    return queue_twiml.back_to_waiting(line.desk.urls.wait(entry.id), voice, words)


async def queue_done(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    """Twilio's `<Enqueue action>`: the caller left the queue; say what happens next."""
    entry = await _queued(line, params, request)
    if entry is None:
        words, voice = line.to_stranger(params)
        return queue_twiml.goodbye(words.nobody_free, voice)
    words, voice = line.speaking(entry.context)
    entry = await line.desk.left_queue(entry.id, params.get("QueueResult", "")) or entry
    if entry.state is EntryState.CALLBACK:
        callback = await line.desk.store.callbacks.for_call(entry.call_sid)
        info = await line.desk.wait_info(entry)
        last = "".join(ch for ch in (callback.number if callback else entry.caller) if ch.isdigit())[-2:]
        text = words.called_back.format(last=" ".join(last), wait=words.minutes(info.estimate_seconds))
        return queue_twiml.goodbye(text, voice)
    if entry.state is EntryState.VOICEMAIL:
        vm_id = await line.desk.store.voicemails.start(
            entry.call_sid, entry.caller, entry.reason, entry.context
        )
        invitation = f"{words.recording_notice} {words.leave_message}"
        return queue_twiml.record(invitation, urls=line.desk.urls, vm_id=vm_id, voice=voice, words=words)
    return queue_twiml.goodbye(words.goodbye, voice)


async def queue_join(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    """The caller's call, redirected out of the queue once an agent accepted: into the conference."""
    entry = await _queued(line, params, request)
    if entry is None or entry.state is not EntryState.BRIDGED:
        return _bye(*line.to_stranger(params))
    words, voice = line.speaking(entry.context)
    return queue_twiml.conference(
        conference_name(OfferKind.ENTRY, entry.id),
        voice=voice,
        message=words.connecting,
        after_url=line.desk.urls.after_join(),
    )


async def queue_after(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    """The caller's conference with the agent ended before the caller hung up: goodbye, in
    their language."""
    entry = await line.desk.store.queue.for_call(params.get("CallSid", ""))
    words, voice = line.speaking(entry.context) if entry else line.to_stranger(params)
    return queue_twiml.goodbye(words.goodbye, voice)


# --- the agent's leg ---------------------------------------------------------------------------


async def agent_whisper(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    """The agent picked up an offer: what they hear about the caller (or callback), then one key."""
    offer = await line.desk.store.offers.get(request.query.get("offer", ""))
    if offer is None or offer.state is not OfferState.RINGING:
        return queue_twiml.goodbye(ENGLISH_AGENT.no_longer_waiting, line.voice)
    words, voice = await line.to_agent(offer.agent)
    text = await _whisper_text(line.desk, offer, words)
    if text is None:
        await line.desk.offers.withdraw(offer.id)
        line.wake()  # the agent is free again: offer them the next caller now
        return queue_twiml.goodbye(words.no_longer_waiting, voice)
    return queue_twiml.whisper(text, answer_url=line.desk.urls.answer(offer.id), voice=voice, take=words.take)


async def _whisper_text(desk: AgentDesk, offer: Offer, words: AgentWords) -> str | None:
    """The summary of the offer's caller or callback; None when its record is not there (nothing
    deletes them, but a webhook must not fail if something did: the agent hears a goodbye)."""
    if offer.kind is OfferKind.ENTRY:
        entry = await desk.store.queue.get(offer.subject)
        return summary(entry.reason, entry.context, words=words) if entry else None
    callback = await desk.store.callbacks.get(offer.subject)
    return summary(callback.reason, callback.context, callback=True, words=words) if callback else None


async def agent_answer(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    offer_id = request.query.get("offer", "")
    offer = await line.desk.store.offers.get(offer_id)
    words, voice = await line.to_agent(offer.agent) if offer else (ENGLISH_AGENT, line.voice)
    digits = params.get("Digits", "")
    if digits == "1":
        accepted = await line.desk.offers.accept(offer_id)
        if accepted is None:
            return queue_twiml.goodbye(words.no_longer_waiting, voice)
        line.wake()
        note = words.accepted.get(accepted.note, "")
        if not accepted.conference:
            return queue_twiml.goodbye(note, voice)
        return queue_twiml.conference(accepted.conference, voice=voice, message=note)
    if digits:
        await line.desk.offers.decline(offer_id)
        line.wake()
        return queue_twiml.goodbye(words.passed, voice)
    await line.desk.offers.missed(offer_id)
    line.wake()
    return queue_twiml.goodbye(words.missed, voice)


async def agent_status(line: AgentLine, params: dict[str, str], request: web.Request) -> None:
    await line.desk.offers.agent_call_ended(request.query.get("offer", ""), params.get("CallStatus", ""))


# --- callbacks ---------------------------------------------------------------------------------


async def callback_join(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    callback = await line.desk.offers.callback_answered(request.query.get("callback", ""))
    if callback is None:
        words, voice = line.to_stranger(params)
        return queue_twiml.goodbye(words.not_needed, voice)
    words, voice = line.speaking(callback.context)
    return queue_twiml.conference(
        conference_name(OfferKind.CALLBACK, callback.id),
        voice=voice,
        message=words.calling_back,
    )


async def callback_status(line: AgentLine, params: dict[str, str], request: web.Request) -> None:
    await line.desk.offers.callback_call_ended(
        request.query.get("callback", ""), params.get("CallStatus", "")
    )


# --- voicemail ---------------------------------------------------------------------------------


async def voicemail_done(line: AgentLine, params: dict[str, str], request: web.Request) -> str:
    voicemail = await line.desk.store.voicemails.get(request.query.get("vm", ""))
    words, voice = line.speaking(voicemail.context if voicemail else {})
    return queue_twiml.goodbye(words.message_taken, voice)


async def voicemail_recording(line: AgentLine, params: dict[str, str], request: web.Request) -> None:
    duration = params.get("RecordingDuration", "0")
    await line.desk.store.voicemails.recorded(
        request.query.get("vm", ""),
        params.get("RecordingUrl", ""),
        params.get("RecordingSid", ""),
        int(duration) if duration.isdigit() else 0,
    )
    line.wake()  # fetch and transcribe now, so the ticket is complete when an agent looks


def add_agent_routes(app: web.Application, line: AgentLine) -> None:
    """Register the webhooks, the hold music and the background task on `app`."""
    app[AGENT_LINE] = line
    post = app.router.add_post
    post("/voice/queue/wait", _handler(queue_wait, _leave))
    post("/voice/queue/choice", _handler(queue_choice, _leave))
    post("/voice/queue/done", _handler(queue_done, _bye))
    post("/voice/queue/join", _handler(queue_join, _bye))
    post("/voice/queue/after", _handler(queue_after, _bye))
    post("/voice/agent/whisper", _handler(agent_whisper, _bye))
    post("/voice/agent/answer", _handler(agent_answer, _bye))
    post("/voice/agent/status", _status(agent_status))
    post("/voice/callback/join", _handler(callback_join, _bye))
    post("/voice/callback/status", _status(callback_status))
    post("/voice/voicemail/done", _handler(voicemail_done, _bye))
    post("/voice/voicemail/recording", _status(voicemail_recording))
    app.cleanup_ctx.append(_background(line))


def _background(line: AgentLine) -> Callable[[web.Application], AsyncIterator[None]]:
    """Routing, callback retries and voicemail processing, every `tick` or when woken."""

    async def loop() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(line.tick):
                    await line.wakeup.wait()
            line.wakeup.clear()
            try:
                await line.desk.offers.dispatch()
                if line.worker is not None:
                    await line.worker.work()
            except Exception:
                log.exception("desk_round_failed: routing or voicemail processing; trying again shortly")

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return lifecycle
