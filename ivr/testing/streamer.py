"""A stand-in for Twilio's media edge, driving the real /media websocket.

Time is virtual and honest: every inbound frame the test sends is 20 ms of the call,
and the audio the line sends back is "played" at the same rate, so a mark is echoed
only once its audio has had time to play, and `clear` flushes what has not played
(echoing the marks, as Twilio does). Tests can therefore check barge-in and
endpointing without waiting in real time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from dataclasses import dataclass, field

import numpy as np
from aiohttp import ClientWebSocketResponse, WSMsgType

from ivr.speech import audio
from ivr.testing.demo_line import ROOT

FRAME = 160
SILENCE = bytes([0xFF]) * FRAME
FSDD = ROOT.parent / "shared" / "data" / "fsdd"


def spoken_digits_audio(digits: str, speaker: str = "jackson", gap_ms: int = 200) -> bytes:
    """Real people saying digits (8 kHz recordings), joined with short pauses, as mu-law."""
    parts = []
    for index, digit in enumerate(digits):
        samples, rate = audio.decode_wav((FSDD / f"{digit}_{speaker}_{index % 5}.wav").read_bytes())
        assert rate == 8000
        parts.extend([samples, audio.silence(gap_ms, 8000)])
    return audio.ulaw_encode(np.concatenate(parts))


@dataclass
class TwilioEdge:
    ws: ClientWebSocketResponse
    call_sid: str
    stream_sid: str = field(default_factory=lambda: "MZ" + secrets.token_hex(16))
    queued_ms: int = 0
    """Outbound audio not yet played."""
    played_ms: int = 0
    """All outbound audio played so far (what the caller heard)."""
    marks: list[tuple[int, str]] = field(default_factory=list)
    """(queued_ms at which the mark plays, name)"""
    cleared: int = 0
    closed: bool = False
    sequence: int = 0
    chunk: int = 0

    async def send(self, event: str, **body: object) -> None:
        self.sequence += 1
        message = {"event": event, "sequenceNumber": str(self.sequence), **body}
        if event != "connected":
            message["streamSid"] = self.stream_sid
        await self.ws.send_str(json.dumps(message))

    async def start(self, token: str) -> None:
        await self.ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self.send(
            "start",
            start={
                "streamSid": self.stream_sid,
                "accountSid": "AC" + "0" * 32,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )

    async def _drain(self, wait: float = 0.0) -> None:
        """Take whatever the line has sent so far (audio, marks, clear, close).

        `wait` is real time to wait for the first message (the line may be synthesising).
        """
        first = True
        while not self.closed:
            try:
                message = await self.ws.receive(timeout=wait if first and wait else 0.001)
                first = False
            except TimeoutError:
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                self.closed = True
                return
            if message.type is WSMsgType.ERROR:
                self.closed = True
                return
            data = json.loads(message.data)
            assert data.get("streamSid") == self.stream_sid
            if data["event"] == "media":
                self.queued_ms += len(base64.b64decode(data["media"]["payload"])) // 8
            elif data["event"] == "mark":
                self.marks.append((self.queued_ms, data["mark"]["name"]))
            elif data["event"] == "clear":
                self.cleared += 1
                self.queued_ms = 0
                for _, name in self.marks:
                    await self.send("mark", mark={"name": name})
                self.marks.clear()

    async def frame(self, payload: bytes = SILENCE) -> None:
        """20 ms of the call: the caller's audio goes up, 20 ms of the line's audio plays."""
        await self._drain()
        if self.closed:
            return
        self.chunk += 1
        await self.send(
            "media",
            media={
                "track": "inbound",
                "chunk": str(self.chunk),
                "timestamp": str(self.chunk * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        )
        played = min(20, self.queued_ms)
        self.queued_ms -= played
        self.played_ms += played
        self.marks = [(at - played, name) for at, name in self.marks]
        for at, name in list(self.marks):
            if at <= 0:
                self.marks.remove((at, name))
                await self.send("mark", mark={"name": name})

    async def audio(self, mulaw: bytes) -> None:
        for offset in range(0, len(mulaw), FRAME):
            await self.frame(mulaw[offset : offset + FRAME].ljust(FRAME, b"\xff"))

    async def wait_for_prompt(self, limit_ms: int = 60_000) -> int:
        """Listen in silence until the line has spoken and all of it has played; returns ms heard."""
        before = self.played_ms
        if self.queued_ms == 0 and not self.marks:
            await self._drain(wait=20.0)  # real time: the line may be synthesising
        waited = 0
        while waited < limit_ms and not self.closed:
            await self.frame()
            waited += 20
            if self.played_ms > before and not self.marks and self.queued_ms == 0:
                await self._drain(wait=0.3)
                if not self.marks and self.queued_ms == 0:
                    await self.frame()  # let the last mark's echo reach the line
                    return self.played_ms - before
        return self.played_ms - before

    async def until_speaking(self) -> None:
        """Silence until the line starts sending audio (waiting in real time for synthesis)."""
        if self.queued_ms == 0:
            await self._drain(wait=20.0)
        await self.frame()

    async def wait_closed(self, seconds: float = 20.0) -> None:
        """Keep the call going (silence) until the line closes the stream, in real time."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not self.closed and asyncio.get_running_loop().time() < deadline:
            await self.frame()
            await self._drain(wait=0.05)

    async def dtmf(self, digits: str) -> None:
        for digit in digits:
            await self._drain()
            await self.send("dtmf", dtmf={"track": "inbound_track", "digit": digit})
            await self.frame()

    async def stop(self) -> None:
        await self.send("stop", stop={"accountSid": "AC" + "0" * 32, "callSid": self.call_sid})
