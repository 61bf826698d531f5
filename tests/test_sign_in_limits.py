"""The sign-in limits under attack, over real HTTP: attempts sent at once, to two instances
sharing a database (SQLite and PostgreSQL), and clients behind a real nginx.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar, TCPConnector
from aiohttp.test_utils import TestServer

from ivr.config import ConfigError
from ivr.store.accounts import MAX_FAILURES, Role
from ivr.store.audit import AuditLog
from ivr.testing.demo_line import TODAY, make_settings
from ivr.testing.nginx import free_port, nginx_binary, run_nginx
from ivr.web.app import create_app
from ivr.web.keys import STORES
from tests.console import PASSWORD, add_account, attempt_sign_in, console_client, login_form

pytestmark = pytest.mark.process

GUESSES = 60


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, IVR_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8,::1")
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert make_settings(tmp_path).trusted_proxies == ()
    for wrong in ("nginx.internal", "10.0.0.1/8", "10.0.0.0/33"):
        with pytest.raises(ConfigError, match=f"IVR_TRUSTED_PROXIES .*'{wrong}'"):
            make_settings(tmp_path, IVR_TRUSTED_PROXIES=f"127.0.0.1,{wrong}")


async def test_attempts_sent_at_once_to_two_instances_are_each_counted(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url)
    first = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    second = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(first.app, "sam", Role.SUPERVISOR)
    forms = {first: await login_form(first), second: await login_form(second)}
    # 59 wrong guesses and the right password, all at once, half to each instance.
    guesses = [f"wrong guess {n:02d}" for n in range(GUESSES - 1)] + [PASSWORD]
    instances = [first, second] * (GUESSES // 2)
    answers = await asyncio.gather(
        *(
            attempt_sign_in(client, "sam", guess, form=forms[client])
            for client, guess in zip(instances, guesses, strict=True)
        )
    )
    statuses = Counter(answer.status for answer in answers)
    # In: 303, or 200 with the notice of the failed ones checked before it.
    assert set(statuses) <= {200, 303, 401, 429}, statuses
    # No more passwords were checked than the limit allows, however they raced.
    assert statuses[401] + statuses[303] + statuses[200] == MAX_FAILURES["user"], statuses
    assert statuses[429] == GUESSES - MAX_FAILURES["user"]
    # Every wrong password checked stays counted, whether or not the right one got in.
    row = await first.app[STORES].sql.fetchone(
        "SELECT failures FROM login_failures WHERE key = 'user:sam@127.0.0.1'"
    )
    assert row is not None and row["failures"] == statuses[401]


async def test_a_right_password_after_the_limit_is_refused_too(
    aiohttp_client: Callable, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, IVR_DATABASE_URL=database_url)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "sam", Role.SUPERVISOR)
    for n in range(MAX_FAILURES["user"]):
        assert (await attempt_sign_in(client, "sam", f"wrong guess {n}")).status == 401
    assert (await attempt_sign_in(client, "sam")).status == 429


# --- behind a reverse proxy ---------------------------------------------------------------------

PROXY = "127.0.0.1"
"""nginx connects to the instance from here; clients come from other loopback addresses."""


def _from(address: str, base_url: str) -> ClientSession:
    """A browser on `address` (loopback has all of 127/8), its cookie jar taking `Secure` cookies."""
    jar = CookieJar(unsafe=True, treat_as_secure_origin=[base_url])
    return ClientSession(base_url, connector=TCPConnector(local_addr=(address, 0)), cookie_jar=jar)


@asynccontextmanager
async def _instance(tmp_path: Path, **env: str) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_settings(tmp_path, **env), today=lambda: TODAY), port=free_port())
    await server.start_server()
    try:
        await add_account(server.app, "sam", Role.SUPERVISOR)
        yield server
    finally:
        await server.close()


@pytest.fixture
def nginx_installed() -> None:
    if nginx_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed: CI must install it (scripts/setup)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")


USER = "127.0.0.3"


def _forged(n: int) -> dict[str, str]:
    """An X-Forwarded-For as a forger writes it: a new address each time, then the user's."""
    return {"X-Forwarded-For": f"10.66.0.{n}, {USER}"}


async def _fail_up_to_the_address_limit(client: ClientSession) -> None:
    """Wrong passwords for made-up names (so no account's own limit stops them first)."""
    for n in range(MAX_FAILURES["ip"]):
        answer = await attempt_sign_in(client, f"nobody{n:02d}", "wrong guess", headers=_forged(n))
        assert answer.status == 401, await answer.text()


@pytest.mark.usefixtures("nginx_installed")
async def test_behind_nginx_one_clients_failures_do_not_lock_out_everyone(tmp_path: Path) -> None:
    async with (
        _instance(tmp_path, IVR_TRUSTED_PROXIES=f"{PROXY}, ::1") as instance,
        asyncio.timeout(60),
    ):
        assert instance.port is not None
        with run_nginx([instance.port], tmp_path / "nginx") as proxy:
            async with _from("127.0.0.2", proxy.url) as attacker, _from(USER, proxy.url) as user:
                # nginx appends the address the attacker really comes from to what they forged.
                await _fail_up_to_the_address_limit(attacker)
                assert (await attempt_sign_in(attacker, "sam", headers=_forged(99))).status == 429
                assert (await attempt_sign_in(user, "sam")).status == 303


async def test_a_client_going_around_the_proxy_cannot_choose_its_address(tmp_path: Path) -> None:
    async with _instance(tmp_path, IVR_TRUSTED_PROXIES=PROXY) as instance, asyncio.timeout(60):
        direct = str(instance.make_url("/"))
        async with _from("127.0.0.4", direct) as attacker, _from(USER, direct) as user:
            # Straight to the instance, X-Forwarded-For is not believed: the failures neither
            # spread over made-up addresses nor land on the user's.
            await _fail_up_to_the_address_limit(attacker)
            assert (await attempt_sign_in(attacker, "sam", headers=_forged(99))).status == 429
            assert (await attempt_sign_in(user, "sam")).status == 303


async def test_a_strangers_guesses_slow_them_down_and_never_lock_out_the_admin(tmp_path: Path) -> None:
    async with _instance(tmp_path) as instance, asyncio.timeout(60):
        await add_account(instance.app, "boss", Role.ADMIN)
        url = str(instance.make_url("/"))
        async with _from("127.0.0.5", url) as stranger, _from(USER, url) as admin:
            for n in range(MAX_FAILURES["user"]):
                assert (await attempt_sign_in(stranger, "boss", f"wrong guess {n}")).status == 401
            slowed = await attempt_sign_in(stranger, "boss", "wrong guess 5")
            assert slowed.status == 429
            assert "Try again in about 30 seconds" in await slowed.text()
            # The admin, from their own address, signs in at once and is told what was tried.
            answer = await attempt_sign_in(admin, "boss")
            notice = await answer.text()
            assert answer.status == 200, notice
            assert "5 failed sign-ins to your account" in notice and "127.0.0.5" in notice
            assert (await admin.get("/console/accounts", allow_redirects=False)).status == 200
            # Told once: the next sign-in goes straight on.
            assert (await attempt_sign_in(admin, "boss")).status == 303
            entries = await AuditLog(instance.app[STORES].sql).recent(subject="boss")
            assert [(e.action, e.detail) for e in entries] == [
                ("login.failures", "5 failed sign-ins since the last one, the latest from 127.0.0.5")
            ]
            # Half a minute on, the stranger may try once more, and then waits twice as long.
            await instance.app[STORES].sql.execute(
                "UPDATE login_failures SET first_at = first_at - 31 WHERE key = 'user:boss@127.0.0.5'"
            )
            assert (await attempt_sign_in(stranger, "boss", "wrong guess 6")).status == 401
            slower = await (await attempt_sign_in(stranger, "boss", "wrong guess 7")).text()
            waits = re.search(r"Try again in about (\d+) seconds", slower)
            assert waits is not None and 45 <= int(waits.group(1)) <= 60, slower


async def test_an_ipv6_client_is_one_guesser_across_its_64(aiohttp_client: Callable, tmp_path: Path) -> None:
    """Behind a trusted proxy, each guess from a new address of one /64 (anyone with one has
    2**64 of them) is still the same guesser, slowed after the allowance."""
    settings = make_settings(tmp_path, IVR_TRUSTED_PROXIES="127.0.0.1")
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "sam", Role.SUPERVISOR)
    for n in range(MAX_FAILURES["user"]):
        forwarded = {"X-Forwarded-For": f"2001:db8:1:2::{n + 1:x}"}
        assert (await attempt_sign_in(client, "sam", f"guess {n}", headers=forwarded)).status == 401
    elsewhere_in_it = {"X-Forwarded-For": "2001:db8:1:2:ffff::99"}
    assert (await attempt_sign_in(client, "sam", "guess 5", headers=elsewhere_in_it)).status == 429
    another_network = {"X-Forwarded-For": "2001:db8:1:3::1"}
    assert (await attempt_sign_in(client, "sam", headers=another_network)).status == 200  # in, and told
