"""The Media Streams protocol: Twilio's documented messages in, typed messages and JSON out.

Message shapes follow the examples in Twilio's reference
(https://www.twilio.com/docs/voice/media-streams/websocket-messages), including its
quirks: counters as strings, `dtmf.track` = `inbound_track`, `streamSid` both inside
and beside `start`.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from ivr.mediastream.protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaStreamProtocol,
    ProtocolError,
    ProtocolErrorCode,
    Start,
    Stop,
    StreamState,
)

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CAc9a9dea7c7b17cdb88ce6f0e0532625c"
ACCOUNT_SID = "ACa9051c185ce5367cfeabc4e1915038f3"
SILENCE = b"\xff" * 160
"""20 ms of mu-law silence: what one inbound media message carries."""

Message = dict[str, Any]


def connected() -> Message:
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start(**custom_parameters: str) -> Message:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT_SID,
            "streamSid": STREAM_SID,
            "callSid": CALL_SID,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": custom_parameters,
        },
        "streamSid": STREAM_SID,
    }


def media(payload: bytes = SILENCE, *, chunk: str = "2", timestamp: str = "5", seq: str = "4") -> Message:
    return {
        "event": "media",
        "sequenceNumber": seq,
        "media": {
            "track": "inbound",
            "chunk": chunk,
            "timestamp": timestamp,
            "payload": base64.b64encode(payload).decode("ascii"),
        },
        "streamSid": STREAM_SID,
    }


def dtmf(digit: str = "1") -> Message:
    return {
        "event": "dtmf",
        "streamSid": STREAM_SID,
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": digit},
    }


def mark(name: str = "my label") -> Message:
    return {"event": "mark", "sequenceNumber": "4", "streamSid": STREAM_SID, "mark": {"name": name}}


def stop() -> Message:
    return {
        "event": "stop",
        "sequenceNumber": "5",
        "stop": {"accountSid": ACCOUNT_SID, "callSid": CALL_SID},
        "streamSid": STREAM_SID,
    }


def feed(protocol: MediaStreamProtocol, message: Message) -> object:
    return protocol.receive(json.dumps(message))


def streaming(**custom_parameters: str) -> MediaStreamProtocol:
    protocol = MediaStreamProtocol()
    feed(protocol, connected())
    feed(protocol, start(**custom_parameters))
    return protocol


def edited(message: Message, change: Callable[[Message], object]) -> Message:
    """A deep copy of `message` with `change` applied to it."""
    copy: Message = json.loads(json.dumps(message))
    change(copy)
    return copy


# --- the happy path ------------------------------------------------------------------


def test_a_new_stream_awaits_connected_and_knows_no_call_yet() -> None:
    protocol = MediaStreamProtocol()
    assert protocol.state is StreamState.AWAITING_CONNECTED
    assert (protocol.stream_sid, protocol.call_sid, protocol.pending_marks) == (None, None, 0)


def test_a_whole_stream_parses_into_typed_messages_in_order() -> None:
    protocol = MediaStreamProtocol()
    states: list[StreamState] = []
    assert feed(protocol, connected()) == Connected(protocol="Call", version="1.0.0")
    states.append(protocol.state)

    assert feed(protocol, start(FirstName="Jane")) == Start(
        stream_sid=STREAM_SID,
        call_sid=CALL_SID,
        account_sid=ACCOUNT_SID,
        tracks=("inbound",),
        custom_parameters={"FirstName": "Jane"},
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
    )
    states.append(protocol.state)
    assert (protocol.stream_sid, protocol.call_sid) == (STREAM_SID, CALL_SID)

    assert feed(protocol, media(SILENCE, chunk="2", timestamp="5")) == Media(
        track="inbound", chunk=2, timestamp_ms=5, payload=SILENCE
    )
    assert feed(protocol, dtmf("1")) == Dtmf("1")
    protocol.mark("my label")
    assert feed(protocol, mark("my label")) == Mark("my label")

    assert feed(protocol, stop()) == Stop(call_sid=CALL_SID)
    states.append(protocol.state)
    assert states == [StreamState.AWAITING_START, StreamState.STREAMING, StreamState.STOPPED]


def test_custom_parameters_pass_through_unchanged_and_read_only() -> None:
    parameters = {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob", "note": "", "city": "Zürich"}
    protocol = MediaStreamProtocol()
    feed(protocol, connected())
    message = feed(protocol, start(**parameters))

    assert isinstance(message, Start)
    assert dict(message.custom_parameters) == parameters
    assert dict(protocol.custom_parameters) == parameters
    with pytest.raises(TypeError):
        message.custom_parameters["FirstName"] = "Eve"  # type: ignore[index]


def test_custom_parameters_are_empty_before_start_and_when_twilio_leaves_them_out() -> None:
    protocol = MediaStreamProtocol()
    assert dict(protocol.custom_parameters) == {}
    feed(protocol, connected())
    feed(protocol, edited(start(), lambda m: m["start"].pop("customParameters")))
    assert dict(protocol.custom_parameters) == {}


@pytest.mark.parametrize("where", ["outer", "inner"])
def test_start_needs_the_stream_sid_in_only_one_of_its_two_places(where: str) -> None:
    def drop(message: Message) -> None:
        if where == "outer":
            message.pop("streamSid")
        else:
            message["start"].pop("streamSid")

    protocol = MediaStreamProtocol()
    feed(protocol, connected())
    feed(protocol, edited(start(), drop))
    assert protocol.stream_sid == STREAM_SID


def test_counters_are_accepted_as_json_numbers_as_well_as_strings() -> None:
    message = edited(media(), lambda m: m["media"].update(chunk=3, timestamp=60))
    assert feed(streaming(), message) == Media(track="inbound", chunk=3, timestamp_ms=60, payload=SILENCE)


@pytest.mark.parametrize("digit", [*"0123456789", "*", "#"])
def test_every_keypad_key_arrives_as_its_digit(digit: str) -> None:
    assert feed(streaming(), dtmf(digit)) == Dtmf(digit)


# --- what we send ----------------------------------------------------------------------

_RNG = random.Random(8000)
PAYLOADS = [
    pytest.param(SILENCE, id="20ms-silence"),
    pytest.param(bytes(range(256)), id="every-byte"),
    pytest.param(b"\x00", id="one-byte"),
    pytest.param(b"\x7f\x80", id="needs-padding"),
    pytest.param(_RNG.randbytes(8000), id="one-second"),
    *(pytest.param(_RNG.randbytes(n), id=f"random-{n}") for n in (1, 2, 3, 159, 161, 4096)),
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_media_builds_the_documented_frame_and_its_payload_decodes_to_the_same_bytes(payload: bytes) -> None:
    frame = json.loads(streaming().media(payload))

    assert frame == {
        "event": "media",
        "streamSid": STREAM_SID,
        "media": {"payload": base64.b64encode(payload).decode("ascii")},
    }
    assert base64.b64decode(frame["media"]["payload"], validate=True) == payload


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_we_send_parses_back_unchanged_when_twilio_carries_it(payload: bytes) -> None:
    protocol = streaming()
    sent = json.loads(protocol.media(payload))["media"]["payload"]
    message = edited(media(), lambda m: m["media"].update(payload=sent))
    received = feed(protocol, message)
    assert isinstance(received, Media)
    assert received.payload == payload


def test_mark_and_clear_build_the_documented_frames() -> None:
    protocol = streaming()
    assert json.loads(protocol.mark("my label")) == {
        "event": "mark",
        "streamSid": STREAM_SID,
        "mark": {"name": "my label"},
    }
    assert json.loads(protocol.clear()) == {"event": "clear", "streamSid": STREAM_SID}


def test_marks_count_as_pending_until_twilio_echoes_them() -> None:
    protocol = streaming()
    protocol.mark("prompt-1")
    protocol.mark("prompt-2")
    assert protocol.pending_marks == 2

    feed(protocol, mark("prompt-1"))
    assert protocol.pending_marks == 1
    feed(protocol, mark("prompt-2"))
    assert protocol.pending_marks == 0


def test_a_clear_leaves_marks_pending_because_twilio_echoes_them_afterwards() -> None:
    protocol = streaming()
    protocol.mark("greeting")
    protocol.mark("menu")
    protocol.clear()
    assert protocol.pending_marks == 2

    assert feed(protocol, mark("greeting")) == Mark("greeting")
    assert feed(protocol, mark("menu")) == Mark("menu")
    assert protocol.pending_marks == 0


def test_a_name_used_twice_needs_two_echoes() -> None:
    protocol = streaming()
    protocol.mark("prompt")
    protocol.mark("prompt")
    feed(protocol, mark("prompt"))
    assert protocol.pending_marks == 1
    feed(protocol, mark("prompt"))
    assert protocol.pending_marks == 0


# --- refusals --------------------------------------------------------------------------

Code = ProtocolErrorCode

# (what went before, the bad frame as text, the code it must raise)
BAD: list[Any] = [
    pytest.param([], "{not json", Code.MALFORMED_JSON, id="not-json"),
    pytest.param([], "[1, 2]", Code.MALFORMED_JSON, id="not-an-object"),
    pytest.param([], {"event": "playedStream", "name": "x"}, Code.UNKNOWN_EVENT, id="unknown-event"),
    pytest.param([], {"protocol": "Call", "version": "1.0.0"}, Code.MISSING_FIELD, id="no-event"),
    pytest.param([], {"event": 7}, Code.BAD_FIELD, id="event-not-a-string"),
    pytest.param([], {"event": "connected", "protocol": "Call"}, Code.MISSING_FIELD, id="no-version"),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"].pop("callSid")),
        Code.MISSING_FIELD,
        id="start-without-callSid",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"]["mediaFormat"].pop("channels")),
        Code.MISSING_FIELD,
        id="start-without-channels",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: (m.pop("streamSid"), m["start"].pop("streamSid"))),
        Code.MISSING_FIELD,
        id="start-without-streamSid",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].pop("payload")),
        Code.MISSING_FIELD,
        id="media-without-payload",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m.pop("streamSid")),
        Code.MISSING_FIELD,
        id="media-without-streamSid",
    ),
    pytest.param(
        [connected(), start()],
        edited(stop(), lambda m: m["stop"].pop("callSid")),
        Code.MISSING_FIELD,
        id="stop-without-callSid",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].update(chunk="two")),
        Code.BAD_FIELD,
        id="chunk-not-a-number",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].update(timestamp=-20)),
        Code.BAD_FIELD,
        id="negative-timestamp",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"].update(tracks="inbound")),
        Code.BAD_FIELD,
        id="tracks-not-a-list",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"].update(customParameters={"order": 4512})),
        Code.BAD_FIELD,
        id="parameter-not-a-string",
    ),
    pytest.param([connected(), start()], dtmf("10"), Code.BAD_FIELD, id="two-digits-at-once"),
    pytest.param(
        [connected(), start()],
        edited(mark(), lambda m: m.update(mark="my label")),
        Code.BAD_FIELD,
        id="mark-not-an-object",
    ),
    pytest.param([], start(), Code.OUT_OF_ORDER, id="start-before-connected"),
    pytest.param([connected()], connected(), Code.OUT_OF_ORDER, id="second-connected"),
    pytest.param([connected()], media(), Code.OUT_OF_ORDER, id="media-before-start"),
    pytest.param([connected()], dtmf(), Code.OUT_OF_ORDER, id="dtmf-before-start"),
    pytest.param([connected()], stop(), Code.OUT_OF_ORDER, id="stop-before-start"),
    pytest.param([connected(), start()], start(), Code.OUT_OF_ORDER, id="second-start"),
    pytest.param([connected(), start(), stop()], media(), Code.OUT_OF_ORDER, id="media-after-stop"),
    pytest.param([connected(), start(), stop()], stop(), Code.OUT_OF_ORDER, id="second-stop"),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].update(payload="not base64!")),
        Code.BAD_PAYLOAD,
        id="payload-not-base64",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].update(payload="/w")),
        Code.BAD_PAYLOAD,
        id="payload-bad-padding",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m["media"].update(payload=[255, 255])),
        Code.BAD_PAYLOAD,
        id="payload-not-a-string",
    ),
    pytest.param(
        [connected(), start()],
        edited(media(), lambda m: m.update(streamSid="MZ00000000000000000000000000000000")),
        Code.WRONG_STREAM,
        id="media-for-another-stream",
    ),
    pytest.param(
        [connected(), start()],
        edited(stop(), lambda m: m["stop"].update(callSid="CA00000000000000000000000000000000")),
        Code.WRONG_STREAM,
        id="stop-for-another-call",
    ),
    pytest.param(
        [connected(), start()],
        edited(stop(), lambda m: m["stop"].update(accountSid="AC00000000000000000000000000000000")),
        Code.WRONG_STREAM,
        id="stop-for-another-account",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m.update(streamSid="MZ00000000000000000000000000000000")),
        Code.WRONG_STREAM,
        id="start-with-two-streamSids",
    ),
    pytest.param(
        [connected()],
        edited(
            start(),
            lambda m: m["start"].update(
                mediaFormat={"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}
            ),
        ),
        Code.UNSUPPORTED_FORMAT,
        id="linear-16khz",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"]["mediaFormat"].update(sampleRate=16000)),
        Code.UNSUPPORTED_FORMAT,
        id="mulaw-16khz",
    ),
    pytest.param(
        [connected()],
        edited(start(), lambda m: m["start"]["mediaFormat"].update(channels=2)),
        Code.UNSUPPORTED_FORMAT,
        id="stereo",
    ),
    pytest.param([connected(), start()], mark("never sent"), Code.UNKNOWN_MARK, id="mark-never-sent"),
]


@pytest.mark.parametrize(("before", "bad", "code"), BAD)
def test_a_bad_frame_raises_its_code_and_fails_the_stream(
    before: list[Message], bad: Message | str, code: ProtocolErrorCode
) -> None:
    protocol = MediaStreamProtocol()
    for message in before:
        feed(protocol, message)
    text = bad if isinstance(bad, str) else json.dumps(bad)

    with pytest.raises(ProtocolError) as caught:
        protocol.receive(text)

    assert caught.value.code is code
    assert str(caught.value) == caught.value.message
    assert protocol.state is StreamState.FAILED
    with pytest.raises(ProtocolError, match="after the stream failed") as again:
        feed(protocol, media())
    assert again.value.code is Code.OUT_OF_ORDER


def test_a_mark_echoed_twice_is_refused() -> None:
    protocol = streaming()
    protocol.mark("prompt")
    feed(protocol, mark("prompt"))
    with pytest.raises(ProtocolError) as caught:
        feed(protocol, mark("prompt"))
    assert caught.value.code is Code.UNKNOWN_MARK


def test_codes_are_the_stable_strings_logs_and_metrics_use() -> None:
    assert {code.value for code in ProtocolErrorCode} == {
        "stream_malformed_json",
        "stream_unknown_event",
        "stream_missing_field",
        "stream_bad_field",
        "stream_out_of_order",
        "stream_bad_payload",
        "stream_wrong_stream",
        "stream_unsupported_format",
        "stream_unknown_mark",
    }


def _send_media(protocol: MediaStreamProtocol) -> str:
    return protocol.media(SILENCE)


def _send_mark(protocol: MediaStreamProtocol) -> str:
    return protocol.mark("prompt")


def _send_clear(protocol: MediaStreamProtocol) -> str:
    return protocol.clear()


SENDERS = [
    pytest.param(_send_media, id="media"),
    pytest.param(_send_mark, id="mark"),
    pytest.param(_send_clear, id="clear"),
]


@pytest.mark.parametrize("send", SENDERS)
@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="before-connected"),
        pytest.param([connected()], id="before-start"),
        pytest.param([connected(), start(), stop()], id="after-stop"),
    ],
)
def test_sending_outside_the_stream_is_refused_without_failing_it(
    send: Callable[[MediaStreamProtocol], str], before: list[Message]
) -> None:
    protocol = MediaStreamProtocol()
    for message in before:
        feed(protocol, message)
    state = protocol.state

    with pytest.raises(ProtocolError) as caught:
        send(protocol)

    assert caught.value.code is Code.OUT_OF_ORDER
    assert protocol.state is state
    assert protocol.pending_marks == 0


def test_sending_after_a_failure_is_refused() -> None:
    protocol = streaming()
    with pytest.raises(ProtocolError):
        protocol.receive("{not json")
    with pytest.raises(ProtocolError) as caught:
        protocol.media(SILENCE)
    assert caught.value.code is Code.OUT_OF_ORDER


def test_an_empty_payload_or_mark_name_is_not_sent() -> None:
    protocol = streaming()
    with pytest.raises(ProtocolError) as empty_payload:
        protocol.media(b"")
    with pytest.raises(ProtocolError) as empty_name:
        protocol.mark("")
    assert (empty_payload.value.code, empty_name.value.code) == (Code.BAD_PAYLOAD, Code.BAD_FIELD)
    assert protocol.state is StreamState.STREAMING
    assert protocol.pending_marks == 0
