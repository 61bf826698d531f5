"""Console sign-in, roles and CSRF, over real HTTP against the real app and database."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.console.web import LOGIN_COOKIE, login_secret, login_token
from ivr.store.accounts import AccountStore, Role, hash_password, verify_password
from ivr.store.audit import AuditLog
from ivr.testing.caller import TOKEN
from ivr.testing.demo_line import TODAY, make_settings
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import PASSWORD, add_account, attempt_sign_in, console_client, csrf_of, login_form, sign_in


@pytest.fixture
async def console(aiohttp_client: Callable, tmp_path: Path) -> TestClient:
    client = await console_client(aiohttp_client, create_app(make_settings(tmp_path), today=lambda: TODAY))
    await add_account(client.app, "ada", Role.ADMIN, display_name="Ada Admin")
    await add_account(client.app, "sam", Role.SUPERVISOR)
    await add_account(client.app, "alex", Role.AGENT, phone="+15550100200", skills=["en"])
    return client


def test_passwords_are_salted_slow_hashes() -> None:
    first, second = hash_password("a long secret"), hash_password("a long secret")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("a long secret", first)
    assert not verify_password("a long secreT", first)
    assert not verify_password("a long secret", "not a hash")


async def test_pages_need_sign_in_and_send_you_back_after(console: TestClient) -> None:
    response = await console.get("/console/accounts", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/console/login?next=/console/accounts"
    assert await sign_in(console, "ada")
    page = await console.get("/console/accounts")
    assert page.status == 200
    assert "Ada Admin" in await page.text()


async def test_a_next_with_a_line_break_goes_home_and_leaves_no_stray_session(console: TestClient) -> None:
    """CR/LF cannot go into a Location header: the answer is the role's home page, and the
    only session is the one its cookie carries."""
    form = {**await login_form(console), "next": "/console/flows\r\nSet-Cookie: planted=1"}
    response = await attempt_sign_in(console, "ada", form=form)
    assert response.status == 303
    assert response.headers["Location"] == "/console/accounts"
    assert "planted" not in response.cookies
    sessions = await console.app[STORES].sql.fetch("SELECT username FROM console_sessions")
    assert sessions == [{"username": "ada"}]
    assert (await console.get("/console/accounts")).status == 200


@pytest.mark.parametrize(
    ("next_path", "goes_to"),
    [
        ("/console/flows/support?tab=history", "/console/flows/support?tab=history"),
        ("//evil.example/console", "/console/accounts"),
        ("/\\evil.example", "/console/accounts"),
        ("https://evil.example/", "/console/accounts"),
        ("/console/flows\tx", "/console/accounts"),
        ("/console/fl\u00f6ws", "/console/accounts"),
        ("", "/console/accounts"),
    ],
)
async def test_sign_in_goes_on_only_to_a_path_on_this_site(
    console: TestClient, next_path: str, goes_to: str
) -> None:
    response = await attempt_sign_in(console, "ada", form={**await login_form(console), "next": next_path})
    assert (response.status, response.headers["Location"]) == (303, goes_to)


async def test_a_wrong_password_is_refused_without_saying_which_part(console: TestClient) -> None:
    assert await sign_in(console, "ada", "wrong password") == ""
    assert await sign_in(console, "nobody", PASSWORD) == ""
    page = await console.get("/console/accounts", allow_redirects=False)
    assert page.status == 303  # still not signed in


async def test_sign_in_attempts_are_limited_per_account(console: TestClient) -> None:
    for _ in range(5):
        assert await sign_in(console, "sam", "guess guess guess") == ""
    refused = await attempt_sign_in(console, "sam")
    assert refused.status == 429
    assert "Too many failed sign-ins" in await refused.text()


async def test_the_sign_in_token_is_signed_for_its_own_cookie(console: TestClient) -> None:
    """A sign-in form's token works only with the cookie it was issued for, signed by the server,
    and for an hour: cookie and token made up together (as someone who can plant cookies from a
    sibling site would) sign nobody in."""

    async def with_cookie(cookie: str, token: str) -> int:
        console.session.cookie_jar.clear()
        form = {"login_csrf": token, "username": "ada", "password": PASSWORD}
        headers = {"Cookie": f"{LOGIN_COOKIE}={cookie}"}
        answer = await console.post("/console/login", data=form, headers=headers, allow_redirects=False)
        return answer.status

    assert await with_cookie("x" * 32, "x" * 32) == 403
    real = (await login_form(console))["login_csrf"]
    cookie = console.session.cookie_jar.filter_cookies(console.make_url("/console/login"))[LOGIN_COOKIE].value
    assert await with_cookie("AnotherBrowsersCookie", real) == 403
    secret = login_secret(TOKEN)
    assert await with_cookie(cookie, login_token(secret, cookie, int(time.time()) - 3700)) == 403
    assert await with_cookie(cookie, login_token(b"another deployment", cookie, int(time.time()))) == 403
    assert (await console.get("/console/accounts", allow_redirects=False)).status == 303  # nobody in
    assert await with_cookie(cookie, real) == 303


async def test_an_agent_gets_403_for_admin_actions_and_nothing_changes(console: TestClient) -> None:
    csrf = await sign_in(console, "alex")
    assert csrf
    assert (await console.get("/console/accounts")).status == 403
    response = await console.post(
        "/console/accounts",
        data={"csrf_token": csrf, "username": "mallory", "password": "x" * 12, "role": "admin"},
    )
    assert response.status == 403
    assert await AccountStore(console.app[STORES].sql).get("mallory") is None


async def test_anonymous_state_changes_get_403(console: TestClient) -> None:
    response = await console.post("/console/accounts", data={"username": "mallory", "role": "admin"})
    assert response.status == 403
    assert await AccountStore(console.app[STORES].sql).get("mallory") is None


async def test_a_form_without_the_csrf_token_changes_nothing(console: TestClient) -> None:
    csrf = await sign_in(console, "ada")
    form = {"username": "newbie", "password": "y" * 12, "role": "agent"}
    assert (await console.post("/console/accounts", data=form)).status == 403
    assert (await console.post("/console/accounts", data={**form, "csrf_token": "forged"})).status == 403
    cross_site = await console.post(
        "/console/accounts", data={**form, "csrf_token": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status == 403
    assert await AccountStore(console.app[STORES].sql).get("newbie") is None
    ok = await console.post("/console/accounts", data={**form, "csrf_token": csrf})
    assert ok.status == 200 and "newbie" in await ok.text()


async def test_admin_creates_and_disables_accounts_and_it_is_audited(console: TestClient) -> None:
    csrf = await sign_in(console, "ada")
    short = await console.post(
        "/console/accounts",
        data={"csrf_token": csrf, "username": "kim", "password": "short", "role": "agent"},
    )
    assert short.status == 400
    assert "at least 10 characters" in await short.text()
    await console.post(
        "/console/accounts",
        data={
            "csrf_token": csrf,
            "username": "kim",
            "password": "k" * 12,
            "role": "agent",
            "skills": "de, Repairs",
        },
    )
    store = AccountStore(console.app[STORES].sql)
    kim = await store.get("kim")
    assert kim is not None and kim.skills == ("de", "repairs") and kim.language == "en"
    page = await (await console.get("/console/accounts")).text()
    assert '<select name="language" aria-label="Language of kim">' in page
    await console.post(
        "/console/accounts/kim",
        data={"csrf_token": csrf, "role": "agent", "disabled": "on", "skills": "de", "language": "de"},
    )
    assert await store.authenticate("kim", "k" * 12) is None
    kim = await store.get("kim")
    assert kim is not None and kim.language == "de"  # the whisper is German from now on
    french = await console.post(
        "/console/accounts/kim", data={"csrf_token": csrf, "role": "agent", "skills": "de", "language": "fr"}
    )
    assert french.status == 400 and "not &#39;fr&#39;" in await french.text()
    entries = await AuditLog(console.app[STORES].sql).recent()
    assert [(e.actor, e.action, e.subject, e.detail) for e in entries[:2]] == [
        ("ada", "account.update", "kim", "role=agent disabled=True language=de"),
        ("ada", "account.create", "kim", "agent"),
    ]


async def test_sign_out_ends_the_session_everywhere(console: TestClient) -> None:
    csrf = await sign_in(console, "ada")
    assert (
        await console.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    ).status == 303
    assert (await console.get("/console/accounts", allow_redirects=False)).status == 303


async def test_session_cookie_is_httponly_strict_and_secure(console: TestClient) -> None:
    response = await attempt_sign_in(console, "ada")
    assert response.status == 303
    cookie = next(c for c in response.cookies.values() if c.key == "ivr_console")
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
    # The sign-in answer itself, which sets the cookie, may not be framed either.
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    accounts = await console.get("/console/accounts")
    assert "frame-ancestors 'none'" in accounts.headers["Content-Security-Policy"]
    assert csrf_of(await accounts.text())


async def test_an_agents_phone_must_be_an_ascii_e164_number(console: TestClient) -> None:
    """`+١٥٥٥…` in Arabic-Indic digits looks like a number on the page and rings nobody."""
    csrf = await sign_in(console, "ada")
    for phone in ("+١٥٥٥٠١٠٠٢٠١", "+１５５５０１００２０１", "555-0100", "+1555\u202e0100"):
        response = await console.post(
            "/console/accounts",
            data={
                "csrf_token": csrf,
                "username": "newbie",
                "password": PASSWORD,
                "role": "agent",
                "phone": phone,
            },
            allow_redirects=False,
        )
        assert response.status == 400, phone
        assert "E.164" in await response.text()
        assert await AccountStore(console.app[STORES].sql).get("newbie") is None
    for phone in ("+15550100201", "sip:desk@pbx.example.com", ""):
        await AccountStore(console.app[STORES].sql).update(
            "alex", role=Role.AGENT, display_name="Alex", phone=phone, skills=["en"], disabled=False
        )


async def test_recent_changes_keep_a_diff_as_lines(console: TestClient) -> None:
    """A publish's diff was squashed into one paragraph; now its summary reads first and the
    diff keeps its lines, folded."""
    diff = "--- version 1\n+++ version 2\n@@ -1 +1 @@\n-within 30 days\n+within 60 days"
    await AuditLog(console.app[STORES].sql).record(
        "sam", "publish", "flow:support", f"version 2 (was version 1)\n{diff}"
    )
    assert await sign_in(console, "ada")
    page = await (await console.get("/console/accounts")).text()
    assert "<i>flow:support</i>\n    version 2 (was version 1)" in page
    assert f'<pre class="audit-detail">{diff}</pre>' in page
