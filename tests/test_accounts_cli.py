"""`ivr accounts`: the first admin is made on the command line, and can then sign in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.store.accounts import AccountStore, Role
from ivr.store.audit import AuditLog
from ivr.store.sql import SQLiteSql
from ivr.store.sqlite import SQLiteDatabase

pytestmark = pytest.mark.process


def ivr(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "IVR_DATA_DIR": str(tmp_path), "USER": "ops"}


def _check(tmp_path: Path, username: str, password: str) -> tuple[object, list[str]]:
    async def read() -> tuple[object, list[str]]:
        db = SQLiteDatabase(tmp_path / "ivr.db")
        sql = SQLiteSql(db)
        account = await AccountStore(sql).authenticate(username, password)
        audit = [f"{e.actor} {e.action} {e.subject}" for e in await AuditLog(sql).recent()]
        await db.close()
        return account, audit

    return asyncio.run(read())


def test_add_list_passwd_disable(env: dict[str, str], tmp_path: Path) -> None:
    added = ivr(
        "accounts",
        "add",
        "ada",
        "--role",
        "admin",
        "--name",
        "Ada",
        "--password-stdin",
        env=env,
        stdin="first password!\n",
    )
    assert added.returncode == 0, added.stderr
    account, audit = _check(tmp_path, "ada", "first password!")
    assert account is not None and account.role is Role.ADMIN  # type: ignore[attr-defined]
    assert audit == ["cli:ops account.create ada"]

    again = ivr(
        "accounts", "add", "ada", "--role", "agent", "--password-stdin", env=env, stdin="another one!!\n"
    )
    assert again.returncode == 1 and "already an account called 'ada'" in again.stderr
    short = ivr("accounts", "add", "bo", "--role", "agent", "--password-stdin", env=env, stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr

    listing = ivr("accounts", "list", env=env)
    assert "ada" in listing.stdout and "admin" in listing.stdout

    assert (
        ivr("accounts", "passwd", "ada", "--password-stdin", env=env, stdin="second password\n").returncode
        == 0
    )
    assert _check(tmp_path, "ada", "first password!")[0] is None
    assert _check(tmp_path, "ada", "second password")[0] is not None

    assert ivr("accounts", "disable", "ada", env=env).returncode == 0
    assert _check(tmp_path, "ada", "second password")[0] is None
    missing = ivr("accounts", "disable", "nobody", env=env)
    assert missing.returncode == 1 and "no account called 'nobody'" in missing.stderr


def test_an_agents_language_is_set_when_added_and_changed_later(env: dict[str, str], tmp_path: Path) -> None:
    """The language the desk speaks to an agent in: English unless given, one the desk speaks."""
    added = ivr(
        "accounts", "add", "jonas", "--role", "agent", "--skills", "de,en",
        "--language", "de", "--password-stdin", env=env, stdin="first password!\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    plain = ivr(
        "accounts", "add", "alex", "--role", "agent", "--password-stdin", env=env, stdin="x" * 12 + "\n"
    )
    assert plain.returncode == 0, plain.stderr
    listing = ivr("accounts", "list", env=env).stdout.splitlines()
    assert [line.split()[0] + " " + line.split()[-1] for line in listing] == ["alex en", "jonas de"]

    changed = ivr("accounts", "set", "alex", "--language", "sv", env=env)
    assert changed.returncode == 0, changed.stderr
    jonas, audit = _check(tmp_path, "jonas", "first password!")
    alex, _ = _check(tmp_path, "alex", "x" * 12)
    assert (jonas.language, alex.language) == ("de", "sv")  # type: ignore[attr-defined]
    assert alex.skills == ()  # type: ignore[attr-defined]  # nothing else was changed
    assert audit[0] == "cli:ops account.update alex"
    unknown = ivr("accounts", "set", "alex", "--language", "fr", env=env)
    assert unknown.returncode == 2 and "invalid choice: 'fr'" in unknown.stderr
