"""Local speech under load: how many calls one core carries, and how fast they are answered.

The server (``create_app`` with ``IVR_SPEECH=local``: pyttsx3 prompts, the Korean Vosk model,
SQLite) runs in its own process on loopback, on the small Korean line of
``ivr.testing.korean_line`` (the installed model knows its words, none of the English line's, so
its recognisers decode real grammars). This process is Twilio's media edge for ``--calls``
concurrent callers, every one over a real ``/media`` websocket after a signed ``POST /voice``:

- every 20 ms each stream sends 20 ms of caller audio (one ticker for all calls, as the
  edge's clock), and "plays" what the line sends at the same pace, echoing each mark once
  its audio has played and every pending mark on ``clear``, as Twilio does;
- a caller answers 6 to 10 questions, then hangs up (a new caller takes the place): after a
  question has played, a pause of 0.3 to 1.2 s, then an answer of 1 to 6 digits recorded by
  real people (FSDD, three speakers), standing in for a menu word or a number; three in ten
  questions longer than 2 s are interrupted 0.5 to 2 s in instead. The line's goodbyes and
  hand-offs end calls early too. How much of the time callers speak is printed (about a
  fifth with this mix; a starved edge that falls behind its pace says less);
- from the last frame of an answer to the first frame of the reply is timed. Replies within
  the midpoint of the two pauses (450 ms) followed the short one (the answer was heard
  complete); later ones, the long pause (the model heard no menu phrase, or too few
  digits); after 3 s, the no-input timeout (the endpointer heard no speech). Each is
  reported apart: the stand-in recordings decide the mix, not the line.

Calls per core = concurrent calls / the server process's CPU (user + system time from
``/proc/<pid>/stat`` over the measured window, divided by its length): what one core of
server carries, whatever the load generator and the machine's other work take. Memory per
call = the server's RSS growth from before the calls to the end of the window, per call.

    python benchmarks/speech_load.py --calls 20 --seconds 60
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402

from benchmarks.speech import default_model, dial  # noqa: E402
from ivr.speech import audio  # noqa: E402
from ivr.speech.vad import EndpointConfig  # noqa: E402
from ivr.testing.caller import stream_headers  # noqa: E402
from ivr.testing.demo_line import TODAY, load_demo_data  # noqa: E402
from ivr.testing.korean_line import korean_settings  # noqa: E402
from ivr.testing.streamer import FRAME, FSDD  # noqa: E402

SPEAKERS = ("jackson", "nicolas", "theo")
TICK = 0.020
SILENCE_B64 = base64.b64encode(b"\xff" * FRAME).decode("ascii")
BARGE_IN = 0.3
"""Share of questions (of more than 2 s) that callers interrupt."""
MEDIA_PREFIX = '{"event":"media"'
"""How the line's audio frames begin (`ivr.mediastream.protocol`, compact JSON)."""
NO_INPUT_S = 3.0
"""A reply later than this after an answer followed the no-input timeout: not heard as speech."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the server, in its own process -------------------------------------------------------


def _serve(model_dir: str, conn: Connection) -> None:
    asyncio.run(_serve_async(Path(model_dir), conn))


async def _serve_async(model_dir: Path, conn: Connection) -> None:
    from benchmarks.speech import LiveServer, _prerendered
    from ivr.speech.vosk_asr import VoskModel
    from ivr.web.app import create_app
    from ivr.web.keys import STREAM_SPEECH

    with tempfile.TemporaryDirectory(prefix="ivr-speech-load-") as tmp:
        settings = korean_settings(Path(tmp), model_dir)
        await load_demo_data(settings)
        app = create_app(settings, today=lambda: TODAY)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        recognizers = app[STREAM_SPEECH].recognizers
        assert isinstance(recognizers, VoskModel)
        await recognizers.load()
        port = runner.addresses[0][1]
        await _prerendered(LiveServer(None, app, settings, []))  # type: ignore[arg-type]
        conn.send(("ready", port, os.getpid()))
        await asyncio.to_thread(conn.recv)  # until told to stop
        await runner.cleanup()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --- callers --------------------------------------------------------------------------------


def _frames_b64(mulaw: bytes) -> list[str]:
    return [
        base64.b64encode(mulaw[at : at + FRAME].ljust(FRAME, b"\xff")).decode("ascii")
        for at in range(0, len(mulaw), FRAME)
    ]


def answer_clips(count: int) -> list[list[str]]:
    """Answers of 1 to 6 real recorded digits, 150 ms apart, as base64 frames."""
    rng = random.Random(2028)
    clips = []
    for index in range(count):
        speaker = SPEAKERS[index % len(SPEAKERS)]
        parts = []
        for _ in range(rng.randint(1, 6)):
            samples, _ = audio.decode_wav(
                (FSDD / f"{rng.randrange(10)}_{speaker}_{rng.randrange(50)}.wav").read_bytes()
            )
            parts.extend([samples, audio.silence(150, 8000)])
        clips.append(_frames_b64(audio.ulaw_encode(np.concatenate(parts[:-1]))))
    return clips


@dataclass
class Results:
    complete_ms: list[float] = field(default_factory=list)
    long_pause_ms: list[float] = field(default_factory=list)
    not_heard: int = 0
    calls_done: int = 0
    answers: int = 0
    barge_ins: int = 0
    speaking_s: float = 0.0
    call_s: float = 0.0
    errors: int = 0


class Caller:
    """One caller's stream: what it sends each tick, what it hears, when it answers."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, call_sid: str, stream_sid: str, rng: random.Random
    ) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.rng = rng
        self.questions = rng.randint(6, 10)
        self.queued_ms = 0
        self.marks: list[list[Any]] = []  # [ms until played, name]
        self.chunk = 0
        self.speech: list[str] = []  # frames still to say
        self.wait_ticks = -1  # ticks before answering; -1: listening
        self.spoke_at = 0.0  # when the last answer's last frame went out
        self.awaiting = False  # an answer was given and its reply has not come
        self.closed = False
        self.plan = ""  # for the question playing: "barge" in, "listen" to the end, or "" (not yet)
        self.started = time.perf_counter()
        self.reader: asyncio.Task[None] | None = None

    def _media(self, payload: str) -> str:
        self.chunk += 1
        return (
            f'{{"event":"media","sequenceNumber":"{self.chunk + 2}","streamSid":"{self.stream_sid}",'
            f'"media":{{"track":"inbound","chunk":"{self.chunk}","timestamp":"{self.chunk * 20}",'
            f'"payload":"{payload}"}}}}'
        )

    def _mark(self, name: str) -> str:
        self.chunk += 1
        return (
            f'{{"event":"mark","sequenceNumber":"{self.chunk + 2}","streamSid":"{self.stream_sid}",'
            f'"mark":{{"name":"{name}"}}}}'
        )

    async def read(self, results: Results) -> None:
        """The line's messages: audio queued to play, marks, clear; a reply's first frame is timed.

        A prompt arrives as hundreds of frames at once, so audio is recognised without parsing
        its JSON: this process is one of the machine's loads, and must keep its 20 ms pace."""
        try:
            async for message in self.ws:
                if message.type is not WSMsgType.TEXT:
                    break
                text: str = message.data
                if text.startswith(MEDIA_PREFIX):
                    if self.awaiting:
                        self.awaiting = False
                        self._timed(time.perf_counter() - self.spoke_at, results)
                    payload = len(text) - text.rindex(':"') - 5  # base64 characters before '"}}'
                    self.queued_ms += payload * 3 // 4 // 8
                    continue
                data = orjson.loads(text)
                if data["event"] == "mark":
                    self.marks.append([self.queued_ms, data["mark"]["name"]])
                elif data["event"] == "clear":
                    self.queued_ms = 0
                    for _, name in self.marks:
                        await self.ws.send_str(self._mark(name))
                    self.marks.clear()
        finally:
            self.closed = True

    def _timed(self, seconds: float, results: Results) -> None:
        ms = seconds * 1000
        config = EndpointConfig()
        if seconds > NO_INPUT_S:
            results.not_heard += 1
        elif ms >= (config.complete_silence_ms + config.end_silence_ms) / 2:
            results.long_pause_ms.append(ms)
        else:
            results.complete_ms.append(ms)

    async def tick(self, results: Results, clips: list[list[str]]) -> None:
        """20 ms of the call: one frame up, 20 ms of the line's audio played."""
        if self.speech:
            payload = self.speech.pop(0)
            results.speaking_s += TICK
            if not self.speech:
                self.spoke_at = time.perf_counter()
                self.awaiting = True
        else:
            payload = SILENCE_B64
        await self.ws.send_str(self._media(payload))
        played = min(20, self.queued_ms)
        self.queued_ms -= played
        for mark in self.marks:
            mark[0] -= played
        while self.marks and self.marks[0][0] <= 0:
            await self.ws.send_str(self._mark(self.marks.pop(0)[1]))
        self._decide(results, clips)

    def _decide(self, results: Results, clips: list[list[str]]) -> None:
        """Plan each question once: barge in (`BARGE_IN` of the long ones) or listen, think, answer."""
        if self.speech or self.awaiting:
            return
        if self.wait_ticks > 0:
            self.wait_ticks -= 1
            return
        if self.wait_ticks == 0:
            self.wait_ticks = -1
            self.plan = ""
            self.speech = list(self.rng.choice(clips))
            results.answers += 1
            self.questions -= 1
            return
        if not self.plan:
            if not self.queued_ms:
                return  # the question has not arrived yet
            if self.queued_ms > 2000 and self.rng.random() < BARGE_IN:
                self.plan = "barge"
                results.barge_ins += 1
                self.wait_ticks = self.rng.randint(25, 100)  # 0.5 to 2 s into the question
            else:
                self.plan = "listen"
        elif self.plan == "listen" and not self.queued_ms and not self.marks:
            self.wait_ticks = self.rng.randint(15, 60)  # heard it all: 0.3 to 1.2 s to think


async def run_load(base: str, calls: int, seconds: float, pid: int, ramp_per_s: float) -> dict[str, Any]:
    clips = answer_clips(200)
    results = Results()
    rng = random.Random(7)
    live: list[Caller] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def open_call() -> None:
            try:
                call_sid, token = await dial(session, base)
                ws = await session.ws_connect(base + "/media", headers=stream_headers(), heartbeat=None)
                stream_sid = "MZ" + secrets.token_hex(16)
                await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                start = {
                    "streamSid": stream_sid,
                    "accountSid": "AC" + "0" * 32,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "customParameters": {"token": token},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                }
                opening_message: dict[str, object] = {"event": "start", "sequenceNumber": "1"}
                opening_message["streamSid"] = stream_sid
                opening_message["start"] = start
                await ws.send_str(json.dumps(opening_message))
            except (aiohttp.ClientError, RuntimeError) as exc:
                results.errors += 1
                log(f"a call could not start: {exc}")
                return
            caller = Caller(ws, call_sid, stream_sid, random.Random(rng.random()))
            caller.reader = asyncio.create_task(caller.read(results))
            live.append(caller)

        async def retire(caller: Caller) -> None:
            live.remove(caller)
            results.calls_done += 1
            results.call_s += time.perf_counter() - caller.started
            if not caller.ws.closed:
                ended = {"accountSid": "AC" + "0" * 32, "callSid": caller.call_sid}
                with_stop = json.dumps({"event": "stop", "streamSid": caller.stream_sid, "stop": ended})
                await caller.ws.send_str(with_stop)
                await caller.ws.close()

        opening: set[asyncio.Task[None]] = set()
        due = time.perf_counter()
        ramp_start = due
        measuring_from = 0.0
        cpu0 = 0.0
        window: dict[str, Any] = {}
        rss0 = rss_kb(pid)
        lags: list[float] = []
        while True:
            now = time.perf_counter()
            wanted = min(calls, int((now - ramp_start) * ramp_per_s) + 1)
            while len(live) + len(opening) < wanted:
                task = asyncio.create_task(open_call())
                opening.add(task)
                task.add_done_callback(opening.discard)
            for caller in list(live):
                if caller.closed or (caller.questions <= 0 and not caller.speech and not caller.awaiting):
                    await retire(caller)
                    continue
                try:
                    await caller.tick(results, clips)
                except (aiohttp.ClientError, ConnectionError):
                    caller.closed = True
            if not measuring_from and len(live) >= calls:
                measuring_from = time.perf_counter()
                cpu0 = cpu_seconds(pid)
                results.__init__()  # type: ignore[misc]  # the callers hold this object: clear it
                log(f"{calls} calls up; measuring for {seconds:g} s")
            if measuring_from and time.perf_counter() - measuring_from >= seconds:
                wall = time.perf_counter() - measuring_from
                window = {
                    "wall_s": wall,
                    "server_cpu_s": cpu_seconds(pid) - cpu0,
                    "rss_kb": rss_kb(pid) - rss0,
                    "client_cpu_s": time.process_time(),
                }
                break
            due += TICK
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lags.append(-delay)
                due = time.perf_counter()
        for caller in list(live):
            await retire(caller)
    cores = window["server_cpu_s"] / window["wall_s"]
    heard = results.complete_ms + results.long_pause_ms
    return {
        "calls": calls,
        "seconds": round(window["wall_s"], 1),
        "server_cores": round(cores, 3),
        "calls_per_core": round(calls / cores, 1) if cores else None,
        "rss_mb_per_call": round(window["rss_kb"] / 1024 / calls, 2),
        "speaking_share": round(results.speaking_s / max(1e-9, calls * window["wall_s"]), 2),
        "answers": results.answers,
        "barge_ins": results.barge_ins,
        "heard_complete": len(results.complete_ms),
        "long_pause": len(results.long_pause_ms),
        "not_heard": results.not_heard,
        "complete_ms": _stats(results.complete_ms),
        "long_pause_ms": _stats(results.long_pause_ms),
        "all_heard_ms": _stats(heard),
        "calls_finished": results.calls_done,
        "errors": results.errors,
        "edge_late_ticks": len(lags),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "p99": round(p99, 1),
        "max": round(ordered[-1], 1),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--calls", type=int, default=60, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured window")
    parser.add_argument("--ramp", type=float, default=10.0, help="calls started per second until --calls")
    parser.add_argument("--model", default=default_model(), help="Vosk model directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    server = context.Process(target=_serve, args=(args.model, child_conn), daemon=True)
    server.start()
    try:
        _, port, pid = conn.recv()
        log(f"server ready on port {port} (pid {pid})")
        result = asyncio.run(run_load(f"http://127.0.0.1:{port}", args.calls, args.seconds, pid, args.ramp))
        conn.send("stop")
        server.join(30)
    finally:
        if server.is_alive():
            server.kill()
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['calls']} concurrent calls for {result['seconds']} s (load average {result['loadavg']}): "
        f"server {result['server_cores']} cores -> {result['calls_per_core']} calls per core; "
        f"RSS {result['rss_mb_per_call']} MB per call"
    )
    print(
        f"callers spoke {result['speaking_share']:.0%} of the time; {result['answers']} answers, "
        f"{result['barge_ins']} barge-ins, {result['calls_finished']} calls finished, "
        f"{result['errors']} errors, {result['edge_late_ticks']} late edge ticks"
    )
    for label, key in (
        ("heard complete (short pause)", "complete_ms"),
        ("long pause", "long_pause_ms"),
        ("all heard", "all_heard_ms"),
    ):
        print(f"  end of speech -> reply, {label}: {result[key]}")
    print(f"  answers not heard as speech (no-input reply): {result['not_heard']}")


if __name__ == "__main__":
    main()
