"""Signing in to the web console from tests, over real HTTP with real cookies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import ClientResponse, ClientSession, CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from ivr.store.accounts import Account, AccountStore, Role
from ivr.web.keys import STORES

PASSWORD = "correct horse battery"


async def add_account(app: web.Application, username: str, role: Role, **fields: Any) -> Account:
    """Create an account in the running app's own database (as `ivr accounts add` would)."""
    return await AccountStore(app[STORES].sql).create(username, PASSWORD, role, **fields)


async def console_client(aiohttp_client: Callable, app: web.Application | TestServer) -> TestClient:
    """A client whose cookie jar, like a browser on localhost, sends `Secure` cookies over http.

    Given a server already running, the client talks to it: starting its app a second time
    would run the app's start-up twice and leave the second run's connections open."""
    server = app if isinstance(app, TestServer) else TestServer(app)
    await server.start_server()  # returns at once for a server already running
    jar = CookieJar(unsafe=True, treat_as_secure_origin=[str(server.make_url("/"))])
    return await aiohttp_client(server, cookie_jar=jar)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]*)"', page)
    assert match, "the page carries no CSRF token"
    return match.group(1)


async def login_form(client: TestClient | ClientSession) -> dict[str, str]:
    """The sign-in form's hidden field (its cookie is now in the client's jar)."""
    page = await (await client.get("/console/login")).text()
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert login_csrf
    return {"login_csrf": login_csrf.group(1)}


async def attempt_sign_in(
    client: TestClient | ClientSession,
    username: str,
    password: str = PASSWORD,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    """One sign-in attempt, its answer not followed (303 in, 401 wrong, 429 too many)."""
    form = form or await login_form(client)
    return await client.post(
        "/console/login",
        data={**form, "username": username, "password": password},
        headers=headers,
        allow_redirects=False,
    )


async def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (empty if refused)."""
    response = await attempt_sign_in(client, username, password)
    if response.status != 303:
        return ""
    # Every console page carries the session's token; the sign-in page always exists.
    return csrf_of(await (await client.get("/console/login")).text())
