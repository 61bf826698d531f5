"""The sandbox telephone network: phones that ring, and calls that follow the line's TwiML.

`TwilioAccount` answers the line's REST requests; this module plays the rest of Twilio: a
placed call rings a sandbox phone and reports initiated, ringing, answered and completed;
an answered call fetches its TwiML and follows it verb by verb (`Say`, `Play`, `Gather`,
`Redirect`, `Enqueue` with its wait URL, `Dial` into a `Conference`, `Record`, `Hangup`),
posting every webhook signed as Twilio signs it. A phone (`ivr phone`, the console's dev
phone page) sees what the line says as a stream of `PhoneEvent`s and acts on a call with
keys, typed speech, a recording, or by hanging up.

Everything is in memory and bounded: each phone keeps its last `HISTORY` events, the network
its last `MAX_PHONES` phones and `MAX_CALLS` calls. Nothing here reaches a real phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import xml.etree.ElementTree as ET
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.sandbox.account import SandboxCall, SandboxError, TwilioAccount
from ivr.speech.tts import Pyttsx3Synthesizer, SynthesisError, Synthesizer

log = logging.getLogger(__name__)

HISTORY = 200
"""Events a phone keeps (what the line said, rings, texts); older ones are dropped."""
MAX_PHONES = 100
MAX_CALLS = 200
"""Calls kept, live or ended; the oldest ended ones go first."""
PATIENCE = 15.0
"""Least seconds a `<Gather>` or `<Record>` waits for a person at a sandbox phone: Twilio's
default of 5 is too short for someone reading a terminal or a web page."""
MUSIC_SECONDS = 10.0
"""How long one loop of `<Play loop="N">` (hold music) lasts in the sandbox."""
RING_SECONDS = 60
ANSWERED_BY = frozenset(
    {
        "human",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    }
)
"""What Twilio's answering machine detection reports in `AnsweredBy`."""
"""How long a placed call rings when the line named no `Timeout`."""


@dataclass(frozen=True, slots=True)
class PhoneEvent:
    """Something a phone's user notices: a ring, words from the line, a text, a hang-up."""

    id: int
    call: str
    """The CallSid it belongs to (empty for a text message)."""
    kind: str
    """``ringing``, ``answered``, ``say``, ``play``, ``listening``, ``recording``, ``queued``,
    ``conference``, ``text``, ``ended``, ``error``."""
    text: str = ""
    url: str = ""
    """For ``play``: the audio the line asked to play."""

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "call": self.call, "kind": self.kind, "text": self.text, "url": self.url}


class Phone:
    """One sandbox number: its recent events, and a way to wait for the next."""

    def __init__(self, number: str, ids: Callable[[], int]) -> None:
        self.number = number
        self.events: deque[PhoneEvent] = deque(maxlen=HISTORY)
        self._ids = ids
        self._changed = asyncio.Event()
        """Set once when an event arrives, then replaced: every waiter of the moment wakes."""

    def emit(self, call: str, kind: str, text: str = "", url: str = "") -> None:
        self.events.append(PhoneEvent(self._ids(), call, kind, text, url))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def since(self, after: int) -> list[PhoneEvent]:
        return [event for event in self.events if event.id > after]

    async def wait(self, after: int, seconds: float) -> list[PhoneEvent]:
        """Events after `after`, waiting up to `seconds` for the first (long polling)."""
        if not self.since(after) and seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), seconds)
        return self.since(after)


@dataclass(eq=False)
class Leg:
    """A call the network carries, seen from its sandbox phone."""

    call: SandboxCall
    phone: Phone
    """The sandbox phone at this end: the caller of an inbound call, the callee of a placed one."""
    inbound: bool
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    input: asyncio.Queue[dict[str, str]] = field(default_factory=asyncio.Queue)
    """What the phone's user did while the call listens: Digits, SpeechResult or a recording."""
    left_conference: asyncio.Event = field(default_factory=asyncio.Event)
    conference: str = ""
    ends_conference: bool = False
    queue_action: str = ""
    """The `<Enqueue action>` while the call waits in a queue: told ``hangup`` if the caller hangs up."""
    task: asyncio.Task[None] | None = None
    ended: bool = False


class _Leave(Exception):
    """`<Leave>` in a queue's wait TwiML: out of the queue, on to the `<Enqueue action>`."""


_Next = tuple[str, dict[str, str]] | None
"""Where a call goes after a TwiML document: a URL and the fields to post there, or nowhere."""


class Network:
    """Phones and the calls between them and the line (attach to a running `TwilioAccount`)."""

    def __init__(
        self,
        account: TwilioAccount,
        *,
        line_url: str,
        patience: float = PATIENCE,
        voice: Synthesizer | None = None,
    ) -> None:
        self.account = account
        self.voice = voice
        """Speaks words typed during a `<Record>` into the recording (a typed voicemail); None: audio only."""
        self.line_url = line_url.rstrip("/")
        """The line's PUBLIC_URL: where an inbound call's first webhook and status reports go."""
        self.patience = patience
        self.phones: OrderedDict[str, Phone] = OrderedDict()
        self.legs: OrderedDict[str, Leg] = OrderedDict()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        account.listener = self

    # --- what a phone does ---------------------------------------------------------------------

    def phone(self, number: str) -> Phone:
        phone = self.phones.get(number)
        if phone is None:
            phone = self.phones[number] = Phone(number, lambda: next(self._ids))
            while len(self.phones) > MAX_PHONES:
                self.phones.popitem(last=False)
        self.phones.move_to_end(number)
        return phone

    def dial(self, number: str) -> str:
        """`number` calls the line; returns the CallSid. The line answers at `/voice`."""
        sid = self.account.add_live_call(from_=number, url=f"{self.line_url}/voice")
        leg = self._leg(self.account.calls[sid], self.phone(number), inbound=True)
        leg.answered.set()
        leg.phone.emit(sid, "answered", f"calling the line at {self.account.phone_number}")
        self._start(leg, self._run(leg, leg.call.url, {}))
        return sid

    def answer(self, number: str, sid: str, answered_by: str = "human") -> None:
        """Pick up a ringing call; `answered_by` is who Twilio's machine detection would say
        answered (``human``, ``machine_start``, ``machine_end_beep``, ``fax``…)."""
        leg = self._live(number, sid)
        if leg.answered.is_set():
            raise SandboxError(f"call {sid} is already answered")
        if answered_by not in ANSWERED_BY:
            raise SandboxError(f"answered_by is one of {', '.join(sorted(ANSWERED_BY))}")
        if leg.call.machine_detection:
            leg.call.answered_by = answered_by
        leg.answered.set()

    def press(self, number: str, sid: str, keys: str) -> None:
        if not keys or any(key not in "0123456789*#" for key in keys):
            raise SandboxError("keys are 0-9, * and #")
        self._answered(number, sid).input.put_nowait({"Digits": keys})

    def say(self, number: str, sid: str, text: str) -> None:
        if not text.strip():
            raise SandboxError("say some words")
        self._answered(number, sid).input.put_nowait({"SpeechResult": text.strip(), "Confidence": "0.92"})

    def record(self, number: str, sid: str, audio: bytes) -> None:
        """A recorded message (WAV) for the `<Record>` the call is at."""
        self._answered(number, sid).input.put_nowait({"Recording": self.account.add_recording(audio)})

    def hang_up(self, number: str, sid: str) -> None:
        leg = self._live(number, sid)
        self._end(leg, "completed" if leg.answered.is_set() else "busy", by_phone=True)

    async def aclose(self) -> None:
        if isinstance(self.voice, Pyttsx3Synthesizer):
            await self.voice.aclose()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- what the line does through the REST API (called by TwilioAccount) ----------------------

    def placed(self, call: SandboxCall) -> None:
        """The line placed a call: it rings the sandbox phone at `call.to`."""
        leg = self._leg(call, self.phone(call.to), inbound=False)
        self._start(leg, self._ring(leg))

    def redirected(self, call: SandboxCall) -> None:
        """The line moved a live call onto new TwiML: stop what it was doing, fetch `call.url`."""
        leg = self.legs.get(call.sid)
        if leg is None or leg.ended:
            return
        leg.queue_action = ""  # out of the queue by the line's own hand: nothing to report
        self._leave_conference(leg)
        if leg.task is not None:
            leg.task.cancel()
        self._start(leg, self._run(leg, call.url, {}))

    def hung_up(self, call: SandboxCall, status: str) -> None:
        """The line ended the call (`Status=completed` or `canceled`)."""
        leg = self.legs.get(call.sid)
        if leg is not None and not leg.ended:
            self._end(leg, status, by_phone=False)

    def texted(self, to: str, from_: str, body: str) -> None:
        self.phone(to).emit("", "text", f"{from_}: {body}")

    # --- calls ----------------------------------------------------------------------------------

    def _leg(self, call: SandboxCall, phone: Phone, *, inbound: bool) -> Leg:
        leg = self.legs[call.sid] = Leg(call, phone, inbound)
        while len(self.legs) > MAX_CALLS:
            oldest = next((sid for sid, old in self.legs.items() if old.ended), None)
            if oldest is None:
                break
            del self.legs[oldest]
            self.account.calls.pop(oldest, None)
        return leg

    def _live(self, number: str, sid: str) -> Leg:
        leg = self.legs.get(sid)
        if leg is None or leg.phone.number != number or leg.ended:
            raise SandboxError(f"{number} has no call {sid} in progress")
        return leg

    def _answered(self, number: str, sid: str) -> Leg:
        leg = self._live(number, sid)
        if not leg.answered.is_set():
            raise SandboxError(f"call {sid} is ringing: answer it first")
        return leg

    def _start(self, leg: Leg, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the phone hears of it; the network carries on
                log.warning("sandbox call %s failed: %s", leg.call.sid, exc)
                leg.phone.emit(leg.call.sid, "error", str(exc))
                self._end(leg, "failed", by_phone=False)

        task = asyncio.get_running_loop().create_task(guarded())
        leg.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ring(self, leg: Leg) -> None:
        call = leg.call
        await self._report(call, "initiated")
        await self._report(call, "ringing")
        leg.phone.emit(call.sid, "ringing", f"call from {call.from_}")
        try:
            await asyncio.wait_for(leg.answered.wait(), call.timeout or RING_SECONDS)
        except TimeoutError:
            self._end(leg, "no-answer", by_phone=False)
            return
        await self._report(call, "in-progress")
        leg.phone.emit(call.sid, "answered")
        detected = {"AnsweredBy": call.answered_by} if call.answered_by else {}
        await self._run(leg, call.url, detected)

    async def _report(self, call: SandboxCall, status: str) -> None:
        """A status callback, if the call asked for this event (as Twilio only sends those)."""
        call.status = status
        try:
            await self.account.post_status(call.sid, status)
        except SandboxError:
            return

    def _end(self, leg: Leg, status: str, *, by_phone: bool) -> None:
        leg.ended = True
        self._leave_conference(leg)
        if leg.task is not None and leg.task is not asyncio.current_task():
            leg.task.cancel()
        leg.phone.emit(leg.call.sid, "ended", "you hung up" if by_phone else f"the call ended ({status})")
        task = asyncio.get_running_loop().create_task(self._final_report(leg, status))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _final_report(self, leg: Leg, status: str) -> None:
        call = leg.call
        if leg.queue_action:
            hangup = {"QueueResult": "hangup", "QueueTime": "0"}
            await self.account.post_signed(leg.queue_action, self.account.call_params(call) | hangup)
        if call.status_callback:
            await self._report(call, status)
        elif leg.inbound:
            call.status = status
            params = self.account.call_params(call) | {"CallDuration": "0", "Duration": "0"}
            await self.account.post_signed(f"{self.line_url}/voice/status", params)

    # --- following TwiML ------------------------------------------------------------------------

    async def _run(self, leg: Leg, url: str, params: dict[str, str]) -> None:
        """Fetch TwiML and follow it, document after document, until the call ends."""
        where: _Next = (url, params)
        while where is not None and not leg.ended:
            root = await self._fetch(leg, *where)
            where = await self._follow(leg, root, where[0], queue=False)
        if not leg.ended:
            self._end(leg, "completed", by_phone=False)

    async def _fetch(self, leg: Leg, url: str, params: dict[str, str]) -> ET.Element:
        reply = await self.account.post_signed(url, self.account.call_params(leg.call) | params)
        if reply.status != 200:
            raise SandboxError(f"the line answered {url} with HTTP {reply.status}: an application error")
        try:
            root = ET.fromstring(reply.body)
        except ET.ParseError as exc:
            raise SandboxError(f"the line's answer to {url} is not TwiML: {exc}") from exc
        if root.tag != "Response":
            raise SandboxError(f"the line's answer to {url} is not a <Response>")
        return root

    async def _follow(self, leg: Leg, root: ET.Element, url: str, *, queue: bool) -> _Next:
        """Follow one document; returns where to go next (None: the document ran out)."""
        for verb in root:
            if leg.ended:
                return None
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                await self._speak(leg, verb)
            elif tag == "Gather":
                where = await self._gather(leg, verb, url)
                if where is not None:
                    return where
            elif tag == "Redirect":
                return _absolute(self.line_url, (verb.text or "").strip() or url), {}
            elif tag in ("Hangup", "Reject"):
                self._end(leg, "completed", by_phone=False)
                return None
            elif tag == "Leave" and queue:
                raise _Leave
            elif tag == "Enqueue":
                return await self._enqueue(leg, verb, url)
            elif tag == "Dial":
                where = await self._dial(leg, verb)
                if where is not None:
                    return where
            elif tag == "Record":
                return await self._record(leg, verb, url)
            else:
                leg.phone.emit(leg.call.sid, "error", f"the sandbox does not play <{tag}>")
        return None

    async def _speak(self, leg: Leg, verb: ET.Element) -> None:
        sid = leg.call.sid
        if verb.tag == "Say":
            leg.phone.emit(sid, "say", (verb.text or "").strip())
        elif verb.tag == "Play":
            loops = _number(verb.get("loop"), 1)
            music = "music" if verb.get("loop") else ""
            leg.phone.emit(sid, "play", music, _absolute(self.line_url, verb.text))
            if verb.get("loop"):
                await asyncio.sleep(MUSIC_SECONDS * (loops or 1))
        else:
            await asyncio.sleep(min(_number(verb.get("length"), 1), 2))

    async def _gather(self, leg: Leg, gather: ET.Element, url: str) -> _Next:
        """Say what is inside, then wait for keys or speech; an answer posts to the action URL.

        Keys pressed before the `<Gather>` began count (Twilio would drop them): someone typing
        at a terminal phone should not have to time their keys to the line's speech."""
        listening = asyncio.get_running_loop().create_task(leg.input.get())
        try:
            for verb in gather:
                if listening.done():
                    break
                speaking = asyncio.get_running_loop().create_task(self._speak(leg, verb))
                await asyncio.wait({listening, speaking}, return_when=asyncio.FIRST_COMPLETED)
                speaking.cancel()
            if not listening.done():
                leg.phone.emit(leg.call.sid, "listening", "press keys or say something")
                wait = max(_number(gather.get("timeout"), 5), self.patience)
                await asyncio.wait({listening}, timeout=wait)
        finally:
            if not listening.done():
                listening.cancel()
        heard = listening.result() if listening.done() and not listening.cancelled() else None
        action = _absolute(self.line_url, gather.get("action")) or url
        if heard is not None and "Recording" not in heard:
            return action, _gathered(heard, gather)
        if gather.get("actionOnEmptyResult", "false").lower() == "true":
            return action, {"Digits": ""}
        return None

    async def _enqueue(self, leg: Leg, enqueue: ET.Element, url: str) -> _Next:
        """Wait in the queue, following its wait URL, until the line moves the call or `<Leave>`."""
        name = (enqueue.text or "").strip()
        leg.phone.emit(leg.call.sid, "queued", name)
        wait_url = _absolute(self.line_url, enqueue.get("waitUrl"))
        action = _absolute(self.line_url, enqueue.get("action"))
        waited = 0.0
        start = asyncio.get_running_loop().time()
        leg.queue_action = action
        try:
            while not leg.ended:
                if not wait_url:
                    await asyncio.sleep(MUSIC_SECONDS)
                    continue
                waited = asyncio.get_running_loop().time() - start
                fields = {
                    "QueueSid": "QU" + "0" * 32,
                    "QueuePosition": "1",
                    "QueueTime": str(int(waited)),
                    "AvgQueueTime": "0",
                    "CurrentQueueSize": "1",
                    "MaxQueueSize": "100",
                }
                where: _Next = (wait_url, fields)
                while where is not None and not leg.ended:
                    root = await self._fetch(leg, *where)
                    where = await self._follow(leg, root, where[0], queue=True)
                    if where is not None and where[0] == wait_url:
                        break
        except _Leave:
            leg.queue_action = ""
            waited = asyncio.get_running_loop().time() - start
            if action:
                return action, {"QueueResult": "leave", "QueueTime": str(int(waited))}
            return None
        return None

    async def _dial(self, leg: Leg, dial: ET.Element) -> _Next:
        conference = dial.find("Conference")
        if conference is None:
            leg.phone.emit(leg.call.sid, "error", "the sandbox dials only conferences")
            return None
        name = (conference.text or "").strip()
        leg.conference = name
        leg.ends_conference = conference.get("endConferenceOnExit", "false").lower() == "true"
        leg.left_conference.clear()
        others = [other for other in self.legs.values() if other.conference == name and other is not leg]
        with_whom = ", ".join(other.phone.number for other in others) or "nobody yet"
        leg.phone.emit(leg.call.sid, "conference", f"in conference {name} with {with_whom}")
        for other in others:
            other.phone.emit(other.call.sid, "conference", f"{leg.phone.number} joined")
        await leg.left_conference.wait()
        action = _absolute(self.line_url, dial.get("action"))
        return (action, {"DialCallStatus": "completed"}) if action else None

    def _leave_conference(self, leg: Leg) -> None:
        name, leg.conference = leg.conference, ""
        leg.left_conference.set()
        if not name:
            return
        for other in self.legs.values():
            if other.conference == name:
                other.phone.emit(other.call.sid, "conference", f"{leg.phone.number} left")
                if leg.ends_conference:
                    other.conference = ""
                    other.left_conference.set()

    async def _record(self, leg: Leg, record: ET.Element, url: str) -> _Next:
        """Take a recording from the phone (`#` or silence ends an empty one), then report it.

        Typed words are spoken into the recording by `voice`, so a voicemail can be left from
        a terminal and still reach the line as audio, to be transcribed like any other."""
        typed = " or type your message" if self.voice is not None else ""
        leg.phone.emit(leg.call.sid, "recording", f"recording after the beep: send audio{typed}, or press #")
        wait = max(_number(record.get("maxLength"), 120), self.patience)
        try:
            heard = await asyncio.wait_for(leg.input.get(), wait)
        except TimeoutError:
            heard = {}
        recording_url = heard.get("Recording", "")
        if "SpeechResult" in heard and self.voice is not None:
            try:
                recording_url = self.account.add_recording(await self.voice.synthesize(heard["SpeechResult"]))
            except SynthesisError as exc:
                leg.phone.emit(leg.call.sid, "error", f"the typed message could not be spoken: {exc}")
        if not recording_url:
            return None  # nothing recorded: Twilio goes on to the next verb
        fields = {
            "RecordingUrl": recording_url,
            "RecordingSid": recording_url.rsplit("/", 1)[1],
            "RecordingDuration": "1",
        }
        callback = _absolute(self.line_url, record.get("recordingStatusCallback"))
        if callback:
            report = self.account.call_params(leg.call) | fields | {"RecordingStatus": "completed"}
            task = asyncio.get_running_loop().create_task(self.account.post_signed(callback, report))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        action = _absolute(self.line_url, record.get("action")) or url
        return action, fields


def _gathered(heard: dict[str, str], gather: ET.Element) -> dict[str, str]:
    if "Digits" not in heard:
        return heard
    keys = heard["Digits"]
    finish = gather.get("finishOnKey", "#")
    if finish and finish in keys:
        keys = keys[: keys.index(finish)]
    digits = _number(gather.get("numDigits"), 0)
    return {"Digits": keys[:digits] if digits else keys}


def _number(text: str | None, default: int) -> int:
    return int(text) if text and text.strip().isdigit() else default


def _absolute(base: str, url: str | None) -> str:
    url = (url or "").strip()
    return base + url if url.startswith("/") else url
