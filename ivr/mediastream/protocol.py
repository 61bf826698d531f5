"""The Twilio Media Streams wire protocol as one pure class: JSON text in, typed messages out.

A `<Connect><Stream>` opens a bidirectional stream. Twilio sends JSON text frames and
accepts three kinds back:

    Twilio                                        us
      | -- connected {protocol, version} ----------> |
      | -- start {streamSid, callSid, mediaFormat} -> |   once
      | -- media / dtmf / mark ---------------------> |   any number, any order
      | <--------------------- media / mark / clear - |   only while streaming
      | -- stop {callSid} --------------------------> |   nothing after it

`MediaStreamProtocol` checks what arrives, builds what goes out and holds the
connection's state, so the WebSocket handler around it stays thin and all of this is
tested with plain strings.

What this relies on, from https://www.twilio.com/docs/voice/media-streams/websocket-messages:
- `connected` is the first message and `start` follows it, once. A `start` first or
  twice is refused, not guessed at.
- Audio is base64 mu-law, 8000 Hz, mono, both ways. Any other `mediaFormat` is refused
  because the recogniser and the synthesiser both assume it.
- `sequenceNumber`, `media.chunk` and `media.timestamp` are JSON strings that hold
  numbers, while `sampleRate` and `channels` are JSON numbers. The counters accept
  either form, so a change in that detail cannot end a call. `sequenceNumber` is not
  checked at all: the socket is TCP, so frames cannot arrive out of order.
- Twilio echoes a `mark` we send, under the same name, once the audio queued before it
  has played. A `clear` drops the queued audio and echoes every pending mark at once.

Why strict: a message that breaks these rules means a bug, ours or a proxy's. Carrying
on could play prompts into the wrong call or leave a caller waiting on a mark that
never comes. So every refusal is a `ProtocolError` with a stable code, and the stream
becomes FAILED so the handler can log it and close the socket.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "CHANNELS",
    "ENCODING",
    "SAMPLE_RATE",
    "Connected",
    "Dtmf",
    "Inbound",
    "Mark",
    "Media",
    "MediaStreamProtocol",
    "ProtocolError",
    "ProtocolErrorCode",
    "Start",
    "Stop",
    "StreamState",
]

ENCODING: Final = "audio/x-mulaw"
SAMPLE_RATE: Final = 8000
CHANNELS: Final = 1
_DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")
_NO_PARAMETERS: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Connected:
    """The first message of every stream: which protocol the rest of it speaks."""

    protocol: str
    """Twilio's name for the protocol: `Call` for a call's media."""
    version: str
    """Semantic version of that protocol, e.g. `1.0.0`."""


@dataclass(frozen=True, slots=True)
class Start:
    """The stream's metadata, sent once after `connected`: which call, which audio."""

    stream_sid: str
    """`MZ…`, the stream's name. Every later message in either direction carries it."""
    call_sid: str
    """`CA…`, the call being streamed: the key to the call's session."""
    account_sid: str
    """`AC…`, the Twilio account that owns the call."""
    tracks: tuple[str, ...]
    """The audio that will arrive. `inbound` is the caller, and all a `<Connect>` sends."""
    custom_parameters: Mapping[str, str]
    """The TwiML's `<Parameter>` names and values, unchanged and read-only.

    The only way to hand data to the stream: `<Stream url>` cannot carry a query string."""
    encoding: str
    """Always `audio/x-mulaw`; anything else is refused."""
    sample_rate: int
    """Always 8000."""
    channels: int
    """Always 1."""


@dataclass(frozen=True, slots=True)
class Media:
    """A slice of the call's audio (20 ms, 160 bytes, for the caller's track)."""

    track: str
    """`inbound` (the caller) or `outbound` (what the call plays)."""
    chunk: int
    """Counts media messages, from 1."""
    timestamp_ms: int
    """Milliseconds since the stream started: media time, not the wall clock."""
    payload: bytes
    """The audio, base64-decoded already: raw mu-law, one byte per sample."""


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key."""

    digit: str
    """`0`-`9`, `*` or `#` (or `A`-`D`, which a few phones have)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio's echo of a mark we sent: the audio sent before it has played, or was cleared."""

    name: str
    """The name we gave the mark."""


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream has ended: the caller hung up or the stream was stopped. Nothing follows."""

    call_sid: str
    """The call that was streamed, the same as `Start.call_sid`."""


Inbound = Connected | Start | Media | Dtmf | Mark | Stop


class StreamState(StrEnum):
    """Where a stream is in its life. STOPPED and FAILED are final."""

    AWAITING_CONNECTED = "awaiting_connected"
    """The socket is open; Twilio has not introduced itself yet."""
    AWAITING_START = "awaiting_start"
    """`connected` arrived; the call's details have not."""
    STREAMING = "streaming"
    """`start` arrived: audio, keys and marks flow, and we may send."""
    STOPPED = "stopped"
    """Twilio sent `stop`: the stream ended normally."""
    FAILED = "failed"
    """A message broke the protocol; close the socket."""


class ProtocolErrorCode(StrEnum):
    """Stable codes for `ProtocolError`, for logs and metrics. Messages may be reworded; codes will not."""

    MALFORMED_JSON = "stream_malformed_json"
    """The frame is not a JSON object."""
    UNKNOWN_EVENT = "stream_unknown_event"
    """`event` names a message this protocol does not have."""
    MISSING_FIELD = "stream_missing_field"
    """A required field is absent."""
    BAD_FIELD = "stream_bad_field"
    """A field has the wrong type or an impossible value."""
    OUT_OF_ORDER = "stream_out_of_order"
    """A message came in or went out in a state that does not allow it."""
    BAD_PAYLOAD = "stream_bad_payload"
    """Audio that is not base64, or an empty payload to send."""
    WRONG_STREAM = "stream_wrong_stream"
    """The `streamSid` or `callSid` is not the one `start` gave."""
    UNSUPPORTED_FORMAT = "stream_unsupported_format"
    """Audio other than mu-law 8000 Hz mono."""
    UNKNOWN_MARK = "stream_unknown_mark"
    """A mark came back under a name we never sent, or came back twice."""


class ProtocolError(Exception):
    """A message broke the Media Streams protocol. `str()` says what, for the log."""

    def __init__(self, code: ProtocolErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        """Stable machine-readable category."""
        self.message = message
        """Plain English, naming the field (as a JSON path) or the event."""


class MediaStreamProtocol:
    """One stream's protocol state: parse what Twilio sends, build what we send back.

    Pure: no sockets, clocks or tasks. The handler passes each text frame to `receive`
    and writes out the strings that `media`, `mark` and `clear` return. Each method
    runs to completion, so asyncio code needs no lock around it.
    """

    def __init__(self) -> None:
        self._state = StreamState.AWAITING_CONNECTED
        self._start: Start | None = None
        self._pending: list[str] = []

    @property
    def state(self) -> StreamState:
        """Where the stream is; FAILED from the first refused frame on."""
        return self._state

    @property
    def stream_sid(self) -> str | None:
        """From `start`; None before it."""
        return self._start.stream_sid if self._start else None

    @property
    def call_sid(self) -> str | None:
        """From `start`; None before it."""
        return self._start.call_sid if self._start else None

    @property
    def custom_parameters(self) -> Mapping[str, str]:
        """From `start`; empty before it."""
        return self._start.custom_parameters if self._start else _NO_PARAMETERS

    @property
    def pending_marks(self) -> int:
        """Marks sent but not echoed yet. Zero means all the audio we sent has played."""
        return len(self._pending)

    def receive(self, text: str) -> Inbound:
        """Parse and check one text frame from Twilio.

        Raises `ProtocolError` for anything wrong, and the stream is then FAILED: any
        later frame raises too.
        """
        try:
            return self._receive(text)
        except ProtocolError:
            self._state = StreamState.FAILED
            raise

    def media(self, payload: bytes) -> str:
        """The frame that plays `payload` (raw mu-law, 8000 Hz mono) after audio already sent.

        Twilio plays frames in order from its own buffer, so a long prompt can go in
        one frame or many.
        """
        stream_sid = self._sending("media")
        if not payload:
            raise ProtocolError(ProtocolErrorCode.BAD_PAYLOAD, "refusing to send an empty media payload")
        encoded = base64.b64encode(payload).decode("ascii")
        return _dump({"event": "media", "streamSid": stream_sid, "media": {"payload": encoded}})

    def mark(self, name: str) -> str:
        """The frame that asks Twilio to echo `name` once the audio sent before it has played.

        Counted in `pending_marks` from now on, so send the frame you get back.
        """
        stream_sid = self._sending("mark")
        if not name:
            raise ProtocolError(ProtocolErrorCode.BAD_FIELD, "a mark needs a name")
        self._pending.append(name)
        return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})

    def clear(self) -> str:
        """The frame that drops all audio not yet played (barge-in).

        Pending marks stay counted: Twilio echoes each of them after a clear.
        """
        stream_sid = self._sending("clear")
        return _dump({"event": "clear", "streamSid": stream_sid})

    def _sending(self, event: str) -> str:
        if self._state is not StreamState.STREAMING or self._start is None:
            raise ProtocolError(
                ProtocolErrorCode.OUT_OF_ORDER, f"cannot send {event!r} while the stream is {self._state}"
            )
        return self._start.stream_sid

    def _receive(self, text: str) -> Inbound:
        try:
            data: object = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(ProtocolErrorCode.MALFORMED_JSON, f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ProtocolError(
                ProtocolErrorCode.MALFORMED_JSON, f"expected a JSON object, got {type(data).__name__}"
            )
        event = _string(data, "event", "event")
        match event:
            case "connected":
                self._expect(event, StreamState.AWAITING_CONNECTED)
                protocol, version = _string(data, "protocol", "protocol"), _string(data, "version", "version")
                connected = Connected(protocol, version)
                self._state = StreamState.AWAITING_START
                return connected
            case "start":
                self._expect(event, StreamState.AWAITING_START)
                start = self._start = _parse_start(data)
                self._state = StreamState.STREAMING
                return start
            case "media" | "dtmf" | "mark" | "stop":
                self._expect(event, StreamState.STREAMING)
                return self._streaming(event, data)
            case _:
                raise ProtocolError(ProtocolErrorCode.UNKNOWN_EVENT, f"unknown event {event!r}")

    def _expect(self, event: str, state: StreamState) -> None:
        if self._state is state:
            return
        if self._state is StreamState.STOPPED:
            why = "after 'stop'"
        elif self._state is StreamState.FAILED:
            why = "after the stream failed"
        elif event in ("connected", "start"):
            why = "twice"
        elif self._state is StreamState.AWAITING_CONNECTED:
            why = "before 'connected'"
        else:
            why = "before 'start'"
        raise ProtocolError(ProtocolErrorCode.OUT_OF_ORDER, f"{event!r} arrived {why}")

    def _streaming(self, event: str, data: Mapping[str, object]) -> Media | Dtmf | Mark | Stop:
        start = self._start
        assert start is not None, "STREAMING implies start"
        stream_sid = _string(data, "streamSid", "streamSid")
        if stream_sid != start.stream_sid:
            raise ProtocolError(
                ProtocolErrorCode.WRONG_STREAM,
                f"{event!r} for stream {stream_sid!r}, but this is stream {start.stream_sid!r}",
            )
        body = _object(data, event, event)
        match event:
            case "media":
                return Media(
                    track=_string(body, "track", "media.track"),
                    chunk=_whole_number(body, "chunk", "media.chunk"),
                    timestamp_ms=_whole_number(body, "timestamp", "media.timestamp"),
                    payload=_decode(_field(body, "payload", "media.payload")),
                )
            case "dtmf":
                digit = _string(body, "digit", "dtmf.digit")
                if digit not in _DTMF_DIGITS:
                    raise ProtocolError(ProtocolErrorCode.BAD_FIELD, f"dtmf.digit {digit!r} is not a key")
                return Dtmf(digit)
            case "mark":
                name = _string(body, "name", "mark.name")
                if name not in self._pending:
                    raise ProtocolError(ProtocolErrorCode.UNKNOWN_MARK, f"mark {name!r} was not pending")
                self._pending.remove(name)
                return Mark(name)
            case _:
                call_sid = _string(body, "callSid", "stop.callSid")
                if call_sid != start.call_sid:
                    raise ProtocolError(
                        ProtocolErrorCode.WRONG_STREAM,
                        f"'stop' for call {call_sid!r}, but this stream carries {start.call_sid!r}",
                    )
                account_sid = body.get("accountSid", start.account_sid)
                if account_sid != start.account_sid:
                    raise ProtocolError(
                        ProtocolErrorCode.WRONG_STREAM,
                        f"'stop' for account {account_sid!r}, but the call is {start.account_sid!r}'s",
                    )
                self._state = StreamState.STOPPED
                return Stop(call_sid)


def _parse_start(data: Mapping[str, object]) -> Start:
    body = _object(data, "start", "start")
    outer, inner = data.get("streamSid"), body.get("streamSid")
    if outer is not None and inner is not None and outer != inner:
        raise ProtocolError(
            ProtocolErrorCode.WRONG_STREAM, f"streamSid {outer!r} differs from start.streamSid {inner!r}"
        )
    if outer is not None:
        stream_sid = _string(data, "streamSid", "streamSid")
    else:
        stream_sid = _string(body, "streamSid", "start.streamSid")

    tracks = _field(body, "tracks", "start.tracks")
    if not isinstance(tracks, list) or not all(isinstance(t, str) and t for t in tracks):
        raise ProtocolError(ProtocolErrorCode.BAD_FIELD, "start.tracks must be a list of names")

    parameters = body.get("customParameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise ProtocolError(
            ProtocolErrorCode.BAD_FIELD, "start.customParameters must be an object of string values"
        )

    media_format = _object(body, "mediaFormat", "start.mediaFormat")
    encoding = _string(media_format, "encoding", "start.mediaFormat.encoding")
    sample_rate = _whole_number(media_format, "sampleRate", "start.mediaFormat.sampleRate")
    channels = _whole_number(media_format, "channels", "start.mediaFormat.channels")
    if (encoding, sample_rate, channels) != (ENCODING, SAMPLE_RATE, CHANNELS):
        raise ProtocolError(
            ProtocolErrorCode.UNSUPPORTED_FORMAT,
            f"audio is {encoding} {sample_rate} Hz {channels} channel(s); "
            f"only {ENCODING} {SAMPLE_RATE} Hz mono is supported",
        )

    return Start(
        stream_sid=stream_sid,
        call_sid=_string(body, "callSid", "start.callSid"),
        account_sid=_string(body, "accountSid", "start.accountSid"),
        tracks=tuple(tracks),
        custom_parameters=MappingProxyType(dict(parameters)),
        encoding=encoding,
        sample_rate=sample_rate,
        channels=channels,
    )


def _field(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj:
        raise ProtocolError(ProtocolErrorCode.MISSING_FIELD, f"{path} is missing")
    return obj[key]


def _string(obj: Mapping[str, object], key: str, path: str) -> str:
    value = _field(obj, key, path)
    if not isinstance(value, str) or not value:
        raise ProtocolError(ProtocolErrorCode.BAD_FIELD, f"{path} must be a non-empty string, got {value!r}")
    return value


def _object(obj: Mapping[str, object], key: str, path: str) -> Mapping[str, object]:
    value = _field(obj, key, path)
    if not isinstance(value, dict):
        raise ProtocolError(ProtocolErrorCode.BAD_FIELD, f"{path} must be an object")
    return value


def _whole_number(obj: Mapping[str, object], key: str, path: str) -> int:
    """A count, as Twilio's digit string (`"160"`) or a JSON number (`160`)."""
    value = _field(obj, key, path)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ProtocolError(ProtocolErrorCode.BAD_FIELD, f"{path} must be a whole number, got {value!r}")


def _decode(value: object) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(ProtocolErrorCode.BAD_PAYLOAD, "media.payload must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error: bad characters or padding; also non-ASCII text
        raise ProtocolError(ProtocolErrorCode.BAD_PAYLOAD, "media.payload is not valid base64") from None


def _dump(message: Mapping[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"))
