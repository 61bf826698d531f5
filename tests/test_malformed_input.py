"""Malformed requests get a clear 4xx, never a 500 (issue 24, defect 6).

Each case is a request a browser, a script or an attacker can send to the real server: a
multipart body cut short, a charset Python does not know, a NUL in a user name (PostgreSQL
refuses NUL in text), JSON nested 100,000 levels deep, a number too large for a float, an
event id of 5,000 digits. A Twilio webhook answers 400 or TwiML, the console and the
phone API a 4xx that says what was wrong.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, VERIFIED_PHONE, Caller, sign
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from tests.console import add_account, console_client, login_form, sign_in
from tests.sandbox_line import network, sandbox_line

AGENT_PHONE = "+15550100042"
BROKEN_MULTIPART = (
    "multipart/form-data; boundary=xyz",
    b'--xyz\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nCA1\r\n--xy',
)
UNKNOWN_TRANSFER_ENCODING = (
    b'--xyz\r\nContent-Disposition: form-data; name="CallSid"\r\n'
    b"Content-Transfer-Encoding: bogus\r\n\r\nCA1\r\n--xyz--\r\n"
)
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def assert_client_error(status: int, body: str, what: str) -> None:
    assert 400 <= status < 500, f"{what}: {status} {body[:200]}"


async def test_broken_bodies_to_a_twilio_webhook_get_400_or_twiml(client: TestClient) -> None:
    url = PUBLIC_URL + "/voice"
    signature = sign(url, {})
    for content_type, body in (
        BROKEN_MULTIPART,
        ("application/x-www-form-urlencoded; charset=bogus", b"CallSid=CA1"),
        ("multipart/form-data; boundary=xyz; charset=bogus", BROKEN_MULTIPART[1]),
        ("multipart/form-data", b"no boundary at all"),
        ("multipart/form-data; boundary=xyz", UNKNOWN_TRANSFER_ENCODING),
    ):
        headers = {"Content-Type": content_type, "X-Twilio-Signature": signature}
        response = await client.post("/voice", data=body, headers=headers)
        text = await response.text()
        if response.status == 200:
            assert ET.fromstring(text).tag == "Response"
        else:
            assert_client_error(response.status, text, content_type)
    assert "Thanks for calling" in (await Caller(client).dial()).text  # the line still answers


async def test_broken_bodies_to_the_sign_in_form_get_400(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url)
    client = await console_client(aiohttp_client, create_app(settings))
    await add_account(client.app, "alex", Role.SUPERVISOR)
    form = await login_form(client)
    for content_type, body in (
        BROKEN_MULTIPART,
        ("application/x-www-form-urlencoded; charset=bogus", b"username=alex"),
    ):
        response = await client.post(
            "/console/login", data=body, headers={"Content-Type": content_type}, allow_redirects=False
        )
        assert_client_error(response.status, await response.text(), content_type)
    for username in ("al\x00ex", "\x00"):
        response = await client.post(
            "/console/login",
            data={**form, "username": username, "password": "x\x00y"},
            allow_redirects=False,
        )
        assert_client_error(response.status, await response.text(), repr(username))
    assert await sign_in(client, "alex"), "a good sign-in still works"
    csrf_form = {"Content-Type": BROKEN_MULTIPART[0]}
    response = await client.post(
        "/console/flows/support/validate", data=BROKEN_MULTIPART[1], headers=csrf_form
    )
    assert_client_error(response.status, await response.text(), "broken multipart after sign-in")


async def test_deep_and_odd_json_to_the_editor_gets_400(aiohttp_client: Callable, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "sam", Role.SUPERVISOR)
    csrf = await sign_in(client, "sam")
    json_headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    routes = [r.resource.canonical for r in client.app.router.routes() if r.method in ("POST", "PUT")]
    editor = sorted({r.replace("{name}", "support") for r in routes if r.startswith("/console/flows/{name}")})
    assert editor, routes
    for path in editor:
        if "{" in path:
            continue
        for body in (DEEP, DEEP_OBJECT):
            response = await client.post(path, data=body, headers=json_headers)
            assert_client_error(response.status, await response.text(), f"deep JSON to {path}")
        bogus = {**json_headers, "Content-Type": "application/json; charset=bogus"}
        response = await client.post(path, data=b"{}", headers=bogus)
        assert_client_error(response.status, await response.text(), f"charset=bogus to {path}")


async def test_the_dev_phone_and_the_phone_api_refuse_odd_json_with_4xx(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    async with sandbox_line(tmp_path) as server:
        client = await console_client(aiohttp_client, server)
        await add_account(server.app, "alex", Role.AGENT, display_name="Alex", phone=AGENT_PHONE)
        csrf = await sign_in(client, "alex")
        listen = f"/console/phone/{AGENT_PHONE}/listen"
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        for body in (b'{"event": 1e400}', b'{"event": -1e400}', b'{"event": NaN}', DEEP, DEEP_OBJECT):
            response = await client.post(listen, data=body, headers=headers)
            assert_client_error(response.status, await response.text(), f"listen {body[:20]!r}")
        bogus = {**headers, "Content-Type": "application/json; charset=bogus"}
        response = await client.post(listen, data=b'{"event": 1}', headers=bogus)
        assert_client_error(response.status, await response.text(), "listen charset=bogus")

        api = f"/sandbox/phones/{VERIFIED_PHONE}"
        for body, content_type in (
            (DEEP, "application/json"),
            (DEEP_OBJECT, "application/json"),
            (b'{"call": "CA1", "keys": "1"}', "application/json; charset=bogus"),
        ):
            for action in ("keys", "say", "answer", "hangup"):
                response = await client.post(
                    f"{api}/{action}", data=body, headers={"Content-Type": content_type}
                )
                assert_client_error(response.status, await response.text(), f"{action} {content_type}")
        for after in ("9" * 5000, "1" * 30):
            response = await client.get(f"{api}/events", params={"after": after, "wait": "0"})
            assert_client_error(response.status, await response.text(), f"events?after={after[:10]}…")
        sandbox = network(server)
        sandbox.phone(AGENT_PHONE).emit("CA1", "say", "Your order has shipped.")
        response = await client.get(
            f"/sandbox/phones/{AGENT_PHONE}/events", params={"after": "0", "wait": "0"}
        )
        assert response.status == 200 and (await response.json())["events"], "a normal poll still works"
