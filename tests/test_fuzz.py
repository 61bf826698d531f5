"""A fuzz suite that keeps the line's edges closed: thousands of malformed webhooks against a
real server, with a fixed budget and a fixed seed (the console's and the media streams' are
tests/test_fuzz_console.py and tests/test_fuzz_stream.py).

Whatever arrives, a caller must never meet a server error, a crash or TwiML that is not
well-formed XML, and the calls around the bad requests must go on as if nothing happened.
Hypothesis generates the requests: Twilio's parameters with hostile values (control
characters, other scripts' digits, 100 KB of speech), unknown parameters, broken bodies and
encodings, wrong and missing signatures, and turns out of order on a handful of live calls.
"""

from __future__ import annotations

import asyncio
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, check_no_dead_air, sign
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.fuzz_server import CALLS, ServerThread, a_normal_call, hostile_value

WEBHOOK_EXAMPLES = 2_000
STEPS = (5, 7)
"""Each webhook example is a run of 5 to 7 requests on a few calls: over 10,000 in all."""
BUDGET = settings(
    max_examples=WEBHOOK_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI is repeatable
    database=None,
    suppress_health_check=list(HealthCheck),  # fixed cases: the checks only slow them down
)
PATHS = ["/voice", "/voice/turn", "/voice/status", "/voice/after-transfer", "/voice/stream-ended"]
PARAMS = [
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallStatus",
    "Direction",
    "Digits",
    "SpeechResult",
    "Confidence",
    "DialCallStatus",
    "QueueResult",
    "AnsweredBy",
    "CallDuration",
    "RecordingUrl",
]


@dataclass
class Tally:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


TALLY = Tally()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("fuzz")
    line_settings = make_settings(tmp)
    asyncio.run(load_demo_data(line_settings))
    with ServerThread(lambda: create_app(line_settings, today=lambda: TODAY)) as running:
        yield running


@pytest.fixture(scope="module")
def connection(server: ServerThread) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    yield conn
    conn.close()


@st.composite
def webhook(draw: st.DrawFn) -> dict:
    path = draw(st.sampled_from(PATHS))
    query: dict[str, str] = {}
    if path == "/voice/turn":
        query["seq"] = draw(st.one_of(st.integers(-3, 12).map(str), st.sampled_from(["", "x", "1e3", "٣"])))
        for flag in ("silence", "transfer"):
            if draw(st.booleans()):
                query[flag] = draw(st.sampled_from(["1", "0", "yes"]))
    params = {
        "CallSid": draw(st.one_of(st.sampled_from(CALLS), st.sampled_from(["", "CA", "x" * 300]))),
        "From": draw(st.sampled_from([VERIFIED_PHONE, "+15550199999", "", "anonymous", "+١٢٣"])),
        "To": "+15550009999",
        "CallStatus": "in-progress",
    }
    for name in draw(st.lists(st.sampled_from(PARAMS), max_size=4)):
        params[name] = draw(hostile_value())
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.text(min_size=1, max_size=8))] = draw(hostile_value())
    return {
        "path": path,
        "query": query,
        "params": params,
        "signature": draw(st.sampled_from(["valid"] * 8 + ["wrong", "missing"])),
        "body": draw(st.sampled_from(["form"] * 8 + ["latin-1", "garbage"])),
        "follow": draw(st.integers(0, 2)) == 0,
    }


def _send(conn: http.client.HTTPConnection, request: dict, last_action: dict[str, str]) -> None:
    path, query, params = request["path"], dict(request["query"]), request["params"]
    call_sid = params.get("CallSid", "")
    if request["follow"] and call_sid in last_action:
        # Answer the question the line last asked this call, as Twilio would.
        parts = urlsplit(last_action[call_sid])
        path, query = parts.path, dict(parse_qsl(parts.query))
    target = path + (f"?{urlencode(query)}" if query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if request["signature"] == "valid":
        headers["X-Twilio-Signature"] = sign(PUBLIC_URL + target, params)
    elif request["signature"] == "wrong":
        headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
    body = urlencode(params).encode()
    if request["body"] == "latin-1":
        body = urlencode(params, encoding="latin-1", errors="replace").encode()
    elif request["body"] == "garbage":
        body = b"\xff\xfe%%%&=&&==" + bytes(range(256))
    conn.request("POST", target, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    TALLY.requests += 1
    TALLY.statuses[response.status] = TALLY.statuses.get(response.status, 0) + 1
    assert response.status < 500, f"{response.status} for {target} {params}: {payload[:300]!r}"
    if response.status == 200 and response.getheader("Content-Type", "").startswith("text/xml"):
        root = ET.fromstring(payload)  # ill-formed TwiML raises here
        assert root.tag == "Response"
        if path in ("/voice", "/voice/turn"):
            check_no_dead_air(root)
        gather = root.find("Gather")
        if gather is not None and call_sid:
            last_action[call_sid] = gather.get("action", "")


@pytest.mark.timeout(900)  # a fixed number of cases, however busy the machine is
@BUDGET
@given(st.lists(webhook(), min_size=STEPS[0], max_size=STEPS[1]))
def test_malformed_webhooks_get_an_answer_never_an_error(
    connection: http.client.HTTPConnection, requests: list[dict]
) -> None:
    last_action: dict[str, str] = {}
    for request in requests:
        _send(connection, request, last_action)


def test_the_fuzzed_line_still_serves_a_normal_call(
    server: ServerThread, connection: http.client.HTTPConnection
) -> None:
    """Runs after the fuzzing (tests run in file order): the same server, a clean call."""
    assert TALLY.requests >= 10_000, f"only {TALLY.requests} fuzzed webhooks were sent"
    assert server.alive
    a_normal_call(connection)
