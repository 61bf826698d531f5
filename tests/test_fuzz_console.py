"""The console's JSON and form endpoints and the sandbox's phone API, fuzzed over real HTTP.

Runs of 1 to 4 requests, signed in as an admin (every role's endpoints), as an agent with a
sandbox phone, or as nobody: generated JSON around the fields each endpoint reads, broken
and 100,000-deep bodies, bogus charsets, hostile paths and query strings. No answer may be
a server error, nothing may log a traceback, and afterwards the same server signs people
in, calls the shipped flow valid and answers a normal call. Its own file, so that xdist runs
it beside the webhook fuzzing (`tests/test_fuzz.py`) rather than after it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.sandbox.phones import NETWORK
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import PASSWORD, add_account
from tests.fuzz_server import HOSTILE, ServerThread, a_normal_call, hostile_value


@dataclass
class Count:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


COUNT = Count()

CONSOLE_EXAMPLES = 600
"""Each a run of 1 to 4 requests, signed in as an admin (every role's endpoints), an agent with
a sandbox phone, or nobody: about 1,500 requests, in well under a minute."""
FLOW = (ROOT / "flows" / "support.yaml").read_text()
PROMPTS = {path.stem: path.read_text() for path in sorted((ROOT / "prompts").glob("*.yaml"))}
AGENT_PHONE = "+15550100201"
NUMBERS = [AGENT_PHONE, VERIFIED_PHONE, "+15550100003", "+1", "12345", quote("+١٢٣٤٥٦٧٨"), "x" * 40]
JSON_ENDPOINTS = [
    "/console/flows/{flow}/validate",
    "/console/flows/{flow}/diagram",
    "/console/flows/{flow}/prompt",
    "/console/flows/{flow}/listen",
    "/console/flows/{flow}/test/call",
    "/console/flows/{flow}/test/input",
    "/console/flows/{flow}/save",
    "/console/flows/{flow}/diff",
    "/console/flows/{flow}/publish",
    "/console/flows/{flow}/rollback",
    "/console/agent/status",
    "/console/agent/emergency",
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
    "/console/privacy/export",
    "/console/privacy/erase",
]
PHONE_API = ["call", "answer", "keys", "say", "hangup", "record"]
GETS = [
    "/console/insights?{query}",
    "/console/insights/export/{table}.csv?{query}",
    "/console/campaigns/status.json",
    "/console/returns?{query}",
    "/console/returns.json?{query}",
    "/console/flows/{flow}",
    "/console/flows/{flow}/history",
    "/console/agent/calls/{id}/transcript",
    "/console/phone/{number}",
    "/sandbox/phones/{number}/events?wait=0&{query}",
]
FLOW_NAMES = st.sampled_from(["support"] * 5 + ["followup", "warranty_offer", "nope", "..%2Fsupport", "%00"])
QUERY_KEYS = ["status", "page", "since", "until", "after", "flow", "language"]
KEYS = ["flow", "prompts", "revision", "language", "text", "id", "event", "version", "call", "keys"]
KEYS += [
    "closed",
    "caller",
    "state",
    "input",
    "digits",
    "speech",
    "status",
    "groups",
    "note",
    "add",
    "answered_by",
]


def _jsonhostile_value() -> st.SearchStrategy[object]:
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
        flow=draw(FLOW_NAMES),
        table=draw(st.sampled_from(["calls", "misheard", "x", ""])),
        query=urlencode(
            draw(
                st.dictionaries(
                    st.sampled_from(["since", "until", "after", "flow", "language"]), hostile_value()
                )
            )
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
        fields = draw(st.dictionaries(st.sampled_from(KEYS), _jsonhostile_value(), max_size=5))
        body, headers["Content-Type"] = json.dumps(fields, allow_nan=True).encode(), "application/json"
    elif shape == "plausible":
        names = ["username", "password", "role", "display_name", "phone", "skills", "language", "enabled"]
        names += ["number", "confirm"]
        form = draw(st.dictionaries(st.sampled_from(names), hostile_value(), max_size=5))
        body, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    elif shape == "any":
        body = json.dumps(draw(_jsonhostile_value()), allow_nan=True).encode()
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


@pytest.mark.timeout(1200)  # a fixed number of cases, however busy the machine is
# A failing case's requests hold 100 KB bodies: Hypothesis warns that their repr is large, and
# the suite's warnings-as-errors would report that warning instead of the failure itself.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
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
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)  # a Listen on a busy machine
    try:
        for request in requests:
            headers = dict(request.get("headers", {}))
            if (person := people.get(request["who"])) is not None:
                headers["Cookie"] = person.cookie
                headers["X-CSRF-Token"] = person.csrf
            conn.request(request["method"], request["path"], body=request["body"], headers=headers)
            response = conn.getresponse()
            payload = response.read()
            COUNT.requests += 1
            COUNT.statuses[response.status] = COUNT.statuses.get(response.status, 0) + 1
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
    assert COUNT.requests >= CONSOLE_EXAMPLES, COUNT.requests
    # Not all refused at the door: signed-in requests got through to the endpoints.
    assert COUNT.statuses.get(200, 0) >= CONSOLE_EXAMPLES // 10, COUNT.statuses
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
    a_normal_call(conn)
    conn.close()
